"""Local stand-ins for what AWS runs livepay on: resources from the synthesized CDK template in
moto, an API Gateway-like HTTP front with a JWT authorizer, and SQS event-source pollers."""
