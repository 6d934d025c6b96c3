#!/usr/bin/env python3
"""Writes tests/hostile/amqp-cases.json: AMQP messages whose properties (and some bodies) are
what careless publishers and attackers send, each with what the hub must do with it: refuse it
to the dead-letter queue with the exact code at the exact place, or store it as the unit whose
login `user_id` names, whatever else the message claims.

The test publishes them with Python pika (tests/it/amqp_client.py `corpus`) as a gateway login
that RabbitMQ lets set any `user_id`, so the hub's own checks are what is exercised. Run it
again after changing it:

    python3 tests/hostile/make_amqp.py
"""
import gzip
import json
import os
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

REPORT = {
    "kind": "event", "discovered_at": "2026-10-08 10:00", "category": "ddos", "grade": "general", "provinces": ["GD"],
    "content": {"unit_overview": "某IDC机房", "occurred_at": "2026-10-08 09:00", "summary": "流量攻击", "impact": "链路拥塞",
                "measures": "已清洗"},
}

cases = []


def case(name, props=None, body=None, refused=None):
    """`props`: pika BasicProperties fields (user_id defaults to ct-gd); `body`: a value sent as
    JSON, or bytes; `refused`: (code, place) expected in the dead letter, or None when the
    message must be stored as CT-GD's report."""
    props = dict(props or {})
    props.setdefault("user_id", "ct-gd")
    if body is None:
        body = dict(REPORT, content=dict(REPORT["content"], summary=f"流量攻击 {name}"))
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    entry = {"name": name, "props": props, "hex": raw.hex()}
    if refused:
        entry["refused"] = {"code": refused[0], "place": refused[1]}
    cases.append(entry)


# Who sent it: only a unit's own login is a sender; everything else is nobody's.
for name, user in [("no-user-id", None), ("user-id-no-unit", "tongbao-nobody"), ("user-id-stranger-login", "tongbao-stranger"),
                   ("user-id-unit-code-not-login", "CT-GD"), ("user-id-upper-case", "CT-gd"), ("user-id-trailing-space", "ct-gd "),
                   ("user-id-nul", "ct-gd\u0000"), ("user-id-chinese", "广东电信"), ("user-id-255-chars", "x" * 255),
                   ("user-id-sql", "ct-gd' OR '1'='1"), ("user-id-empty", ""), ("user-id-cncert-lookalike", "cncert\u200b")]:
    case(name, {"user_id": user}, refused=("unknown_sender", "sender"))

# What the properties say the body is.
for name, ctype in [("type-xml", "application/xml"), ("type-csv", "text/csv"), ("type-html", "text/html"),
                    ("type-xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                    ("type-multipart", "multipart/form-data; boundary=x"), ("type-json-gbk", "application/json; charset=gbk"),
                    ("type-json-utf16", "application/json; charset=utf-16"), ("type-garbage", "\u0000\u0001"),
                    ("type-pickle", "application/x-python-serialize")]:
    case(name, {"content_type": ctype}, refused=("not_json", "properties.content_type"))
for name, ctype in [("type-json", "application/json"), ("type-json-utf8", "application/json; charset=UTF-8"),
                    ("type-text-plain", "text/plain"), ("type-vendor-json", "application/vnd.cncert.report+json"),
                    ("type-octet-stream", "application/octet-stream"), ("type-upper-case", "APPLICATION/JSON")]:
    case(name, {"content_type": ctype})
raw = json.dumps(REPORT).encode()
case("encoding-gzip", {"content_encoding": "gzip"}, gzip.compress(raw), refused=("not_json", "properties.content_encoding"))
case("encoding-deflate", {"content_encoding": "deflate"}, zlib.compress(raw), refused=("not_json", "properties.content_encoding"))
case("encoding-br", {"content_encoding": "br"}, raw, refused=("not_json", "properties.content_encoding"))
case("encoding-base64", {"content_encoding": "base64"}, raw, refused=("not_json", "properties.content_encoding"))
case("encoding-identity", {"content_encoding": "identity"})
case("encoding-utf8-misplaced", {"content_encoding": "utf-8"})
# kombu (Celery) publishes bytes bodies as content_encoding "binary", type application/data.
case("encoding-binary-from-kombu", {"content_encoding": "binary", "content_type": "application/data"})

# Properties that claim things the hub does not take from a message.
case("headers-claim-another-unit", {"headers": {"unit": "CM-GD", "x-tongbao-unit": "CM-GD", "user_id": "cm-gd"}})
case("headers-forge-a-verdict", {"headers": {"x-tongbao-error-code": "ok", "x-tongbao-submission-id": "00000000-0000-0000-0000-000000000000"}})
case("headers-a-thousand", {"headers": {f"h{i}": "v" * 100 for i in range(1000)}})
case("headers-nested-tables", {"headers": {"a": {"b": {"c": {"d": [1, 2, {"e": "f"}]}}}}})
case("message-id-empty", {"message_id": ""})
case("message-id-255-chars", {"message_id": "m" * 255})
case("message-id-nul-and-newline", {"message_id": "a\u0000b\nc"})
case("message-id-sql", {"message_id": "'; DROP TABLE submissions; --"})
case("correlation-id-markup", {"correlation_id": "<script>alert(1)</script>"})
case("reply-to-another-queue", {"reply_to": "tongbao.notices.CM-GD"})
case("priority-255-type-app-id", {"priority": 255, "type": "<b>x</b>", "app_id": "=cmd|' /C calc'!A0"})
case("timestamp-zero", {"timestamp": 0})
case("timestamp-year-2200", {"timestamp": 7258118400})
case("transient-delivery-mode", {"delivery_mode": 1})
case("expiration-far", {"expiration": "86400000"})

# Bodies with good properties: refused at their place.
case("body-empty", body=b"", refused=("not_json", "第"))
case("body-claims-another-unit", body=dict(REPORT, unit="CM-GD"), refused=("foreign_unit", "/unit"))
case("body-utf16", body=json.dumps(REPORT).encode("utf-16"), refused=("not_json", "第"))
case("body-gbk", body=json.dumps(REPORT, ensure_ascii=False).encode("gbk"), refused=("not_json", "第"))
case("body-nested-ten-thousand", body=b"[" * 10_000 + b"]" * 10_000, refused=("not_json", "第"))
case("body-xml", body=b"<report><kind>event</kind></report>", refused=("not_json", "第"))
case("body-bad-grade", body=dict(REPORT, grade="huge"), refused=("bad_grade", "/grade"))
case("body-bom", body=b"\xef\xbb\xbf" + json.dumps(REPORT).encode())

with open(os.path.join(HERE, "amqp-cases.json"), "w", encoding="utf-8") as f:
    json.dump({"made_by": "tests/hostile/make_amqp.py", "cases": cases}, f, ensure_ascii=False, indent=1)
print(f"{len(cases)} cases")
