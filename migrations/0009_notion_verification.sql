ALTER TABLE `sources` ADD `verification_received_at` text;--> statement-breakpoint
ALTER TABLE `sources` ADD `verification_read_at` text;