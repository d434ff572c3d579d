-- Per-event history moves out of D1 into time-partitioned Durable Objects (docs/scale.md).
-- The directory of those partitions, the sweep's own small state, and attempts kept with DLQ entries.
CREATE TABLE `partitions` (
	`name` text PRIMARY KEY NOT NULL,
	`start` integer NOT NULL,
	`shard` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`sealed_at` integer,
	`totals` text,
	`dropped_at` integer
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `sweep_state` (
	`k` text PRIMARY KEY NOT NULL,
	`v` text NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
ALTER TABLE `dlq_entries` ADD `attempts` text;
--> statement-breakpoint
-- Dedupe claims become the one thin row per event: WITHOUT ROWID (one row written per claim, no
-- separate primary-key index) and no expiry index (the sweep walks the primary key instead).
CREATE TABLE `dedupe_claims_new` (
	`scope` text NOT NULL,
	`dedupe_key` text NOT NULL,
	`event_id` text NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`scope`, `dedupe_key`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `dedupe_claims_new` (`scope`, `dedupe_key`, `event_id`, `expires_at`)
  SELECT `scope`, `dedupe_key`, `event_id`, `expires_at` FROM `dedupe_claims`;
--> statement-breakpoint
DROP TABLE `dedupe_claims`;
--> statement-breakpoint
ALTER TABLE `dedupe_claims_new` RENAME TO `dedupe_claims`;
