-- Reminders (`link reminders`): which reminder of a waiting thread was sent last. A reminder
-- is claimed by setting `reminded_for` to its due time before it is posted (one claim per due
-- time, whatever replica or retry handles it), and `reminded_at` is when, which the next
-- reminder counts its working time from. Both are cleared with the row when the wait ends.
ALTER TABLE review_waits ADD COLUMN reminded_for BIGINT;
ALTER TABLE review_waits ADD COLUMN reminded_at BIGINT;
