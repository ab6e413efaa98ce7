"""Media delivery: everything that sends a file (local, handed off to a proxy, or a redirect
to S3), with ranges, conditional requests and sendfile. The only package that relies on
Starlette's and uvicorn's internals; tests/test_zerocopy.py and tests/test_delivery.py pin them."""
