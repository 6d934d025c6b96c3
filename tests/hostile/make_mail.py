#!/usr/bin/env python3
"""Writes tests/hostile/mail-cases.json: hostile and careless mails, made with Python's email
package the way mail programs and attackers make them, each with what the hub must answer:
the exact error code and place, `quarantine` (no sender to answer: stored nowhere, answered
by nobody), or `accepted`.

    python3 tests/hostile/make_mail.py
"""
import base64
import email.message
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

# Mail loops (RFC 3834): what machines send is answered by nobody, even from a unit's own
# registered contact and carrying a good form (an out-of-office reply quoting the receipt).
def with_headers(raw_headers, attachments=(("r.json", GOOD_JSON, "application/json"),), sender=SENDER):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "hub@cncert.example.cn"
    m["Subject"] = "自动回复: 【回执】报送已受理"
    m["Message-ID"] = f"<{len(cases)}@hostile.test>"
    for k, v in raw_headers:
        if k == "Subject":
            del m[k]
        m[k] = v
    m.set_content("我正在休假，12月14日返回。")
    for name, data, mtype in attachments:
        maintype, subtype = mtype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()


case("out-of-office-auto-submitted", with_headers([("Auto-Submitted", "auto-replied")]), answer="quarantine")
case("exchange-out-of-office", with_headers([("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All")]),
     answer="quarantine")
case("precedence-bulk", with_headers([("Precedence", "bulk")]), answer="quarantine")
case("precedence-auto-reply", with_headers([("Precedence", "auto_reply")]), answer="quarantine")
case("x-autoreply", with_headers([("X-Autoreply", "yes")]), answer="quarantine")
case("bounce-with-empty-return-path", with_headers([("Return-Path", "<>")], sender="MAILER-DAEMON@mail.gd.example.cn"),
     answer="quarantine")
report = MIMEMultipart("report", report_type="delivery-status")
report["From"] = "postmaster@gd.example.cn"
report["To"] = "hub@cncert.example.cn"
report["Subject"] = "Undelivered Mail Returned to Sender"
report.attach(MIMEText("This is the mail system at host mail.gd.example.cn.", "plain"))
dsn = MIMEBase("message", "delivery-status")
per_message, per_recipient = email.message.Message(), email.message.Message()
per_message["Reporting-MTA"] = "dns; mail.gd.example.cn"
per_recipient["Final-Recipient"] = "rfc822; soc@gd.example.cn"
per_recipient["Action"] = "failed"
per_recipient["Status"] = "5.1.1"
dsn.set_payload([per_message, per_recipient])
report.attach(dsn)
case("delivery-status-report", report.as_bytes(), answer="quarantine")
case("the-hubs-own-mail-come-back", with_headers([("X-Tongbao-Loop", "hub@cncert.example.cn")]), answer="quarantine")
case("from-the-hubs-own-address", with_headers([], sender="Hub@CNCERT.example.cn"), answer="quarantine")
# Auto-replies that say so only in their subject (Foxmail, Coremail, Outlook's rules), a mailing
# list's mail, and Exchange's own mark.
case("subject-only-auto-reply", with_headers([], attachments=()), answer="quarantine")
case("subject-only-out-of-office", with_headers([("Subject", "Out of Office: 【回执】报送已受理")], attachments=()),
     answer="quarantine")
case("auto-reply-behind-re", with_headers([("Subject", "Re: 【自动回复】【回执】报送已受理")], attachments=()), answer="quarantine")
case("mailing-list", with_headers([("List-Id", "<soc.gd.example.cn>")]), answer="quarantine")
case("x-auto-response-suppress", with_headers([("X-Auto-Response-Suppress", "OOF")], attachments=()), answer="quarantine")
# A person's mail that says it is not automatic is read as any other.
case("auto-submitted-no", with_headers([("Auto-Submitted", "no")]), answer="accepted")

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mail-cases.json")
with open(out, "w", encoding="utf-8") as f:
    f.write('{"cases": [\n' + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]}\n")
print(f"{len(cases)} cases written to {out}")
