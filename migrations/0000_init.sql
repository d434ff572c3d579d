CREATE TABLE `attempts` (
	`dispatch_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`started_at` text NOT NULL,
	`completed_at` text,
	`outcome` text NOT NULL,
	`error_msg` text,
	`status_code` integer,
	`duration_ms` integer,
	PRIMARY KEY(`dispatch_id`, `attempt`)
);
--> statement-breakpoint
CREATE TABLE `binding_controls` (
	`id` text PRIMARY KEY NOT NULL,
	`paused` integer DEFAULT false NOT NULL,
	`signing_secret` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `binding_versions` (
	`binding_key` text PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`version` integer NOT NULL,
	`state` text NOT NULL,
	`provider` text NOT NULL,
	`tenant_id` text,
	`spec` text NOT NULL,
	`spec_hash` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `binding_versions_id_version` ON `binding_versions` (`id`,`version`);--> statement-breakpoint
CREATE INDEX `binding_versions_state_provider` ON `binding_versions` (`state`,`provider`);--> statement-breakpoint
CREATE TABLE `dedupe_claims` (
	`scope` text NOT NULL,
	`dedupe_key` text NOT NULL,
	`event_id` text NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`scope`, `dedupe_key`)
);
--> statement-breakpoint
CREATE INDEX `dedupe_claims_expires_at` ON `dedupe_claims` (`expires_at`);--> statement-breakpoint
CREATE TABLE `dispatches` (
	`dispatch_id` text PRIMARY KEY NOT NULL,
	`binding_key` text NOT NULL,
	`binding_id` text NOT NULL,
	`binding_version` integer NOT NULL,
	`event_id` text NOT NULL,
	`trace_id` text NOT NULL,
	`tenant_id` text,
	`status` text NOT NULL,
	`attempt_count` integer DEFAULT 0 NOT NULL,
	`handler_kind` text NOT NULL,
	`target_uri` text NOT NULL,
	`replay_of_event_id` text,
	`result` text,
	`error` text,
	`error_class` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`terminal_at` text
);
--> statement-breakpoint
CREATE INDEX `dispatches_event_id` ON `dispatches` (`event_id`);--> statement-breakpoint
CREATE INDEX `dispatches_binding_key_status` ON `dispatches` (`binding_key`,`status`);--> statement-breakpoint
CREATE INDEX `dispatches_status_updated` ON `dispatches` (`status`,`updated_at`);--> statement-breakpoint
CREATE INDEX `dispatches_replay_of` ON `dispatches` (`replay_of_event_id`);--> statement-breakpoint
CREATE TABLE `dlq_entries` (
	`id` text PRIMARY KEY NOT NULL,
	`dispatch_id` text NOT NULL,
	`binding_key` text NOT NULL,
	`binding_id` text NOT NULL,
	`event_id` text NOT NULL,
	`tenant_id` text,
	`attempt_count` integer NOT NULL,
	`final_error` text NOT NULL,
	`error_class` text NOT NULL,
	`reason` text NOT NULL,
	`state` text NOT NULL,
	`created_at` text NOT NULL,
	`resolved_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `dlq_entries_dispatch_id` ON `dlq_entries` (`dispatch_id`);--> statement-breakpoint
CREATE INDEX `dlq_entries_state_created` ON `dlq_entries` (`state`,`created_at`);--> statement-breakpoint
CREATE INDEX `dlq_entries_binding_id` ON `dlq_entries` (`binding_id`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` text PRIMARY KEY NOT NULL,
	`source` text,
	`provider` text NOT NULL,
	`kind` text NOT NULL,
	`received_at` text NOT NULL,
	`occurred_at` text,
	`dedupe_scope` text NOT NULL,
	`dedupe_key` text NOT NULL,
	`trace_id` text NOT NULL,
	`tenant_id` text,
	`headers` text NOT NULL,
	`payload` text NOT NULL,
	`raw_body` text,
	`signature_status` text NOT NULL,
	`target_binding_id` text,
	`target_version` integer,
	`routed_at` text
);
--> statement-breakpoint
CREATE INDEX `events_received_at` ON `events` (`received_at`);--> statement-breakpoint
CREATE INDEX `events_trace_id` ON `events` (`trace_id`);--> statement-breakpoint
CREATE INDEX `events_routed_at` ON `events` (`routed_at`);--> statement-breakpoint
CREATE TABLE `records` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`record_key` text NOT NULL,
	`topic` text NOT NULL,
	`kind` text NOT NULL,
	`tenant_id` text,
	`event_id` text,
	`trace_id` text,
	`binding_key` text,
	`headers` text NOT NULL,
	`payload` text NOT NULL,
	`at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `records_record_key` ON `records` (`record_key`);--> statement-breakpoint
CREATE INDEX `records_topic` ON `records` (`topic`,`seq`);--> statement-breakpoint
CREATE INDEX `records_event_id` ON `records` (`event_id`);--> statement-breakpoint
CREATE INDEX `records_trace_id` ON `records` (`trace_id`);--> statement-breakpoint
CREATE INDEX `records_binding_key` ON `records` (`binding_key`);--> statement-breakpoint
CREATE INDEX `records_at` ON `records` (`at`);--> statement-breakpoint
CREATE TABLE `sources` (
	`name` text PRIMARY KEY NOT NULL,
	`provider` text NOT NULL,
	`style` text NOT NULL,
	`secrets` text NOT NULL,
	`tolerance_s` integer,
	`header` text,
	`tenant_id` text,
	`dedupe_window_s` integer NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
