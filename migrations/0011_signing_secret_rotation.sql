ALTER TABLE `binding_controls` ADD `previous_signing_secret` text;--> statement-breakpoint
ALTER TABLE `binding_controls` ADD `previous_until` integer;