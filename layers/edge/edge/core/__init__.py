"""What both functions share: settings (``config``), the secret (``secret``), the events-queue
message format and SQS writing (``queueing``), errors, timestamps, Logger and Metrics
(``observability``) and the Lambda runtime hooks (``runtime``). Imports neither side."""
