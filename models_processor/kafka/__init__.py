"""The Kafka side: client configuration, offset tracking, routing of outputs, the dispatcher loop."""
