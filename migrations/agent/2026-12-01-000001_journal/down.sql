DROP TABLE events;
DROP TABLE counters;
DROP TABLE sheets;
DROP TABLE jobs;
