"""The DLQ's way back: what is in it (`dlq stats`) and sending it to the request topic again (`dlq replay`)."""
