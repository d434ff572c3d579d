PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_records` (
	`seq` integer PRIMARY KEY NOT NULL,
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
INSERT INTO `__new_records`("seq", "record_key", "topic", "kind", "tenant_id", "event_id", "trace_id", "binding_key", "headers", "payload", "at") SELECT "seq", "record_key", "topic", "kind", "tenant_id", "event_id", "trace_id", "binding_key", "headers", "payload", "at" FROM `records`;--> statement-breakpoint
INSERT INTO `__new_records`("seq", "record_key", "topic", "kind", "tenant_id", "event_id", "trace_id", "binding_key", "headers", "payload", "at") SELECT "seq", 'records:seq_floor:' || "seq", 'records.retention', 'seq_floor', NULL, NULL, NULL, NULL, '{}', json_object('seq_floor', "seq"), strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM `sqlite_sequence` WHERE "name" = 'records' AND "seq" > (SELECT COALESCE(MAX("seq"), 0) FROM `records`);--> statement-breakpoint
DROP TABLE `records`;--> statement-breakpoint
ALTER TABLE `__new_records` RENAME TO `records`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `records_record_key` ON `records` (`record_key`);--> statement-breakpoint
CREATE INDEX `records_topic` ON `records` (`topic`,`seq`);--> statement-breakpoint
CREATE INDEX `records_trace_id` ON `records` (`trace_id`);