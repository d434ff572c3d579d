ALTER TABLE `dispatches` ADD `next_attempt_at` text;--> statement-breakpoint
CREATE INDEX `events_source_id` ON `events` (`source`,`id`);