DROP INDEX `dispatches_replay_of`;--> statement-breakpoint
CREATE INDEX `dispatches_replay_of` ON `dispatches` (`replay_of_event_id`) WHERE "dispatches"."replay_of_event_id" IS NOT NULL;