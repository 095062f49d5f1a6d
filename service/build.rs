//! Re-run the build when a migration changes: `sqlx::migrate!` embeds the SQL files from the
//! top-level `migrations/` folder at compile time, and cargo does not watch that folder by itself.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
