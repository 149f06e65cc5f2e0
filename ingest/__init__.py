"""Getting events in: the Kafka producer library, the Faust sink worker, dead letters, load."""
