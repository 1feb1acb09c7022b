"""The whole pipeline on one machine, no AWS account and no Docker (README, "The two commands").

moto in server mode stands in for SQS and Secrets Manager, an HTTP gateway turns requests into
API Gateway v2 events, a poller drives the forward handler like the SQS event source mapping,
and a stand-in records what MetaRouter would receive. The handlers run unchanged.
"""
