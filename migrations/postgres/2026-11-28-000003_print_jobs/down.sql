DROP TABLE sheets;
DROP TABLE stock_batches;
DROP TABLE print_jobs;
