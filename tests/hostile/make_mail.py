#!/usr/bin/env python3
"""Writes tests/hostile/mail-cases.json: hostile and careless mails, made with Python's email
package the way mail programs and attackers make them, each with what the hub must answer:
the exact error code and place, `quarantine` (no sender to answer: stored nowhere, answered
by nobody), or `accepted`.

    python3 tests/hostile/make_mail.py
"""
import base64
import io
import json
import os
import zipfile
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.mime.base import MIMEBase
from email import encoders

SENDER = "soc@gd.example.cn"  # CT-GD's registered contact in examples/units.toml
GOOD_JSON = json.dumps({"kind": "event", "discovered_at": "2026-10-08 10:00", "category": "ddos", "grade": "general",
                        "provinces": ["GD"], "content": {"unit_overview": "某IDC", "occurred_at": "2026-10-08 09:00",
                                                         "summary": "攻击", "impact": "拥塞", "measures": "清洗"}},
                       ensure_ascii=False).encode()
cases = []


def case(name, raw, *expected, answer=None):
    cases.append({"name": name, "base64": base64.b64encode(raw).decode(), "answer": answer,
                  "expected": [{"code": c, "place": p} for c, p in expected]})


def mail(subject="报送", sender=SENDER, body="请查收。", attachments=()):
    m = EmailMessage()
    if sender:
        m["From"] = sender
    m["To"] = "hub@cncert.example.cn"
    m["Subject"] = subject
    m["Message-ID"] = f"<{len(cases)}@hostile.test>"
    m.set_content(body)
    for name, data, mtype in attachments:
        maintype, subtype = mtype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()


def zipped(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in entries:
            z.writestr(n, d)
    return buf.getvalue()


case("no-attachment", mail(), ("no_form", "邮件附件"))
case("only-a-picture", mail(attachments=[("scan.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png")]), ("no_form", "邮件附件"))
case("an-executable", mail(attachments=[("report.exe", b"MZ" + b"\0" * 200, "application/octet-stream")]), ("no_form", "邮件附件"))
case("thirty-three-attachments",
     mail(attachments=[(f"r{i}.json", GOOD_JSON, "application/json") for i in range(33)]), ("too_many", "邮件"))
case("json-with-a-bad-grade",
     mail(attachments=[("r.json", GOOD_JSON.replace(b'"general"', b'"huge"'), "application/json")]), ("bad_grade", "r.json › /grade"))
case("broken-json-attachment", mail(attachments=[("r.json", b"{ not json", "application/json")]), ("not_json", "r.json › 第"))
case("a-zip-bomb", mail(attachments=[("forms.zip", zipped([("big.csv", b"0" * (8 << 20))]), "application/zip")]),
     ("too_large", "forms.zip（MIME part 2）"))  # the test runs with 4 MB unzipped
case("a-broken-zip", mail(attachments=[("forms.zip", b"PK\x03\x04" + b"\xff" * 300, "application/zip")]), ("wrong_type", "forms.zip（MIME part 2）"))
case("garbage-named-xlsx", mail(attachments=[("r.xlsx", os.urandom(2000), "application/octet-stream")]), ("not_object", "r.xlsx"))
case("path-in-the-file-name", mail(attachments=[("../../etc/r.json", GOOD_JSON, "application/json")]), answer="accepted")
case("no-from", mail(sender=None, attachments=[("r.json", GOOD_JSON, "application/json")]), answer="quarantine")
case("not-a-mail", os.urandom(3000), answer="quarantine")
case("from-a-stranger", mail(sender="someone@elsewhere.example", attachments=[("r.json", GOOD_JSON, "application/json")]),
     ("unknown_sender", "sender"))
case("a-thousand-encoded-words", mail(subject="=?utf-8?b?5oql6YCB?= " * 1_000), ("no_form", "邮件附件"))

nested = MIMEText("最里层")
for _ in range(100):
    outer = MIMEMultipart()
    outer.attach(nested)
    nested = outer
nested["From"] = SENDER
nested["Subject"] = "嵌套"
case("a-hundred-nested-multiparts", nested.as_bytes(), ("no_form", "邮件附件"))

bad64 = MIMEMultipart()
bad64["From"] = SENDER
bad64["Subject"] = "坏的 base64"
part = MIMEBase("application", "json")
part.set_payload("!!!! not base64 ~~~~")
part["Content-Transfer-Encoding"] = "base64"
part.add_header("Content-Disposition", "attachment", filename="r.json")
bad64.attach(part)
case("broken-base64-json", bad64.as_bytes(), ("not_json", "r.json › 第"))

big = mail(body="正文" * 6_000, attachments=[("r.json", GOOD_JSON, "application/json")])
case("over-the-size-limit", big, ("too_large", "邮件"))  # the test runs with a 32 KB mail limit

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mail-cases.json")
with open(out, "w", encoding="utf-8") as f:
    f.write('{"cases": [\n' + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]}\n")
print(f"{len(cases)} cases written to {out}")
