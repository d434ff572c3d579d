CREATE TABLE `intake_counters` (
	`source` text NOT NULL,
	`outcome` text NOT NULL,
	`reason` text NOT NULL,
	`count` integer NOT NULL,
	`updated_at` text NOT NULL,
	PRIMARY KEY(`source`, `outcome`, `reason`)
);
