CREATE TABLE `worker_jobs` (
	`job_id` text PRIMARY KEY NOT NULL,
	`queue` text NOT NULL,
	`trigger_id` text NOT NULL,
	`binding_key` text NOT NULL,
	`binding_version` integer NOT NULL,
	`event_id` text NOT NULL,
	`dispatch_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`tenant_id` text,
	`event` text NOT NULL,
	`replay_of_event_id` text,
	`priority` text NOT NULL,
	`state` text NOT NULL,
	`consumer_id` text,
	`lease_expires_at` text,
	`claims` integer DEFAULT 0 NOT NULL,
	`response` text,
	`pushed_at` text,
	`push_error` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`acked_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `worker_jobs_dispatch_id` ON `worker_jobs` (`dispatch_id`);--> statement-breakpoint
CREATE INDEX `worker_jobs_claim` ON `worker_jobs` (`queue`,`state`,`priority`,`created_at`);--> statement-breakpoint
CREATE INDEX `worker_jobs_state_acked` ON `worker_jobs` (`state`,`acked_at`);