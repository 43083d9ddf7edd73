-- create "sequences" table
CREATE TABLE `sequences` (`id` text NOT NULL, `value` integer NOT NULL DEFAULT (0), PRIMARY KEY (`id`));
