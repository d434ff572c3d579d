CREATE TABLE `approvals` (
	`id` text PRIMARY KEY NOT NULL,
	`dispatch_id` text NOT NULL,
	`binding_key` text NOT NULL,
	`binding_id` text NOT NULL,
	`event_id` text NOT NULL,
	`tenant_id` text,
	`reason` text NOT NULL,
	`reviewers` text NOT NULL,
	`state` text NOT NULL,
	`reviewer` text,
	`decision_reason` text,
	`created_at` text NOT NULL,
	`decided_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `approvals_dispatch_id` ON `approvals` (`dispatch_id`);--> statement-breakpoint
CREATE INDEX `approvals_state_created` ON `approvals` (`state`,`created_at`);--> statement-breakpoint
CREATE TABLE `predicate_verdicts` (
	`event_id` text NOT NULL,
	`classifier` text NOT NULL,
	`pass` integer NOT NULL,
	`reason` text,
	`cost_usd` real NOT NULL,
	`tokens` integer NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`event_id`, `classifier`)
);
--> statement-breakpoint
CREATE TABLE `trust_records` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`record_key` text NOT NULL,
	`binding_id` text NOT NULL,
	`tenant_id` text,
	`action` text NOT NULL,
	`outcome` text NOT NULL,
	`tier` text NOT NULL,
	`metadata` text NOT NULL,
	`prev_hash` text NOT NULL,
	`hash` text NOT NULL,
	`at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `trust_records_record_key` ON `trust_records` (`record_key`);--> statement-breakpoint
CREATE UNIQUE INDEX `trust_records_chain` ON `trust_records` (`binding_id`,`prev_hash`);--> statement-breakpoint
CREATE INDEX `trust_records_binding_seq` ON `trust_records` (`binding_id`,`seq`);--> statement-breakpoint
ALTER TABLE `binding_controls` ADD `tier_override` text;