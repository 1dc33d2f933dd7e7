DROP TABLE trust_list_state;
DROP TABLE status_list_entries;
DROP TABLE status_lists;
