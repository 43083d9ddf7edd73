-- reverse: create "sequences" table
DROP TABLE `sequences`;
