"""Verifies a delivery with the Standard Webhooks reference library (PyPI standardwebhooks).

Usage: verify_webhook.py SECRET DELIVERY.json
DELIVERY.json: {"headers": {...}, "body": "<the raw body as received>"}
Prints the verified payload's type, or exits non-zero with the library's error.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

secret, path = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    delivery = json.load(f)
payload = Webhook(secret).verify(delivery["body"].encode("utf-8"), delivery["headers"])
print(payload["type"])
