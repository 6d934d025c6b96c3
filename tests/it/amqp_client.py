"""A publisher that is not tongbao's: Python pika, as a CNCERT system or a unit's system would use.

Usage (prints one JSON line with what happened):
  amqp_client.py publish  USER PASSWORD QUEUE COUNT [USER_ID]   persistent reports, confirms, message_id r-<i>
  amqp_client.py poison   USER PASSWORD QUEUE                   one good report and four that can never be accepted
  amqp_client.py forge    USER PASSWORD QUEUE FORGED_USER_ID [UNIT]    a report with another user_id (and claiming UNIT)
  amqp_client.py drill    USER PASSWORD QUEUE COUNT REPLY_QUEUE   like publish, each asking for its receipt on REPLY_QUEUE
                                                                (correlation_id c-<i>); every 100th a major event
  amqp_client.py corpus   USER PASSWORD QUEUE CASES_JSON        each case of tests/hostile/amqp-cases.json, tagged with an
                                                                x-case header, then a good report (message_id good-<i>)
"""
import json
import sys

import pika


def connect(user, password):
    params = pika.ConnectionParameters("127.0.0.1", 5672, "/", pika.PlainCredentials(user, password))
    return pika.BlockingConnection(params)


def report(i):
    return {
        "kind": "event",
        "discovered_at": "2026-09-01T10:00:00+08:00",
        "category": "ddos",
        "grade": "general",
        "provinces": ["GD"],
        "content": {
            "unit_overview": "某IDC机房",
            "occurred_at": "2026-09-01T09:50:00+08:00",
            "summary": "流量攻击 %d" % i,
            "impact": "短时拥塞",
            "measures": "已清洗",
        },
    }


def props(user_id, message_id):
    return pika.BasicProperties(delivery_mode=2, user_id=user_id, message_id=message_id, content_type="application/json")


def publish(user, password, queue, count, user_id):
    conn = connect(user, password)
    ch = conn.channel()
    ch.confirm_delivery()
    for i in range(count):
        body = json.dumps(report(i), ensure_ascii=False).encode()
        ch.basic_publish("", queue, body, props(user_id, "r-%d" % i))
    conn.close()
    print(json.dumps({"published": count}))


def drill(user, password, queue, count, reply_queue):
    conn = connect(user, password)
    ch = conn.channel()
    for i in range(count):
        if i == count - 1:
            # Confirms for the last one only: waiting for each would take minutes for 30,000,
            # and the broker confirms a channel's messages in the order they came.
            ch.confirm_delivery()
        r = report(i)
        if i % 100 == 0:
            r["grade"] = "major"
        p = pika.BasicProperties(delivery_mode=2, user_id=user, message_id="r-%d" % i, content_type="application/json",
                                 reply_to=reply_queue, correlation_id="c-%d" % i)
        ch.basic_publish("", queue, json.dumps(r, ensure_ascii=False).encode(), p)
    conn.close()
    print(json.dumps({"published": count}))


def poison(user, password, queue):
    conn = connect(user, password)
    ch = conn.channel()
    ch.confirm_delivery()
    good = json.dumps(report(0)).encode()
    bad_grade = dict(report(1), grade="huge")
    ch.basic_publish("", queue, good, props(user, "good-1"))
    ch.basic_publish("", queue, b"{not json", props(user, "bad-json"))
    ch.basic_publish("", queue, json.dumps(bad_grade).encode(), props(user, "bad-grade"))
    # No user_id at all: nobody vouches for the sender.
    ch.basic_publish("", queue, good, pika.BasicProperties(delivery_mode=2, message_id="no-user"))
    conn.close()
    # A registered RabbitMQ user that is no unit of the hub.
    conn = connect("tongbao-stranger", "stranger-pass")
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("", queue, good, props("tongbao-stranger", "stranger"))
    conn.close()
    print(json.dumps({"published": 5}))


def forge(user, password, queue, forged, claimed_unit=None):
    conn = connect(user, password)
    ch = conn.channel()
    ch.confirm_delivery()
    body = report(0)
    if claimed_unit:
        body["unit"] = claimed_unit
    try:
        ch.basic_publish("", queue, json.dumps(body).encode(), props(forged, "forged-" + forged))
        print(json.dumps({"refused": False}))
    except pika.exceptions.ChannelClosedByBroker as e:
        print(json.dumps({"refused": True, "code": e.reply_code, "text": e.reply_text}))
    finally:
        if conn.is_open:
            conn.close()


def corpus(user, password, queue, cases_file):
    cases = json.load(open(cases_file, encoding="utf-8"))["cases"]
    conn = connect(user, password)
    ch = conn.channel()
    ch.confirm_delivery()
    for i, c in enumerate(cases):
        p = dict(c["props"])
        p["headers"] = dict(p.get("headers") or {}, **{"x-case": c["name"]})
        p.setdefault("message_id", "case-" + c["name"])
        p.setdefault("delivery_mode", 2)
        ch.basic_publish("", queue, bytes.fromhex(c["hex"]), pika.BasicProperties(**p))
        good = dict(report(i), content=dict(report(i)["content"], summary="good %d" % i))
        ch.basic_publish("", queue, json.dumps(good).encode(), props("ct-gd", "good-%d" % i))
    conn.close()
    print(json.dumps({"published": 2 * len(cases)}))


if __name__ == "__main__":
    cmd, user, password, queue = sys.argv[1:5]
    if cmd == "publish":
        publish(user, password, queue, int(sys.argv[5]), sys.argv[6] if len(sys.argv) > 6 else user)
    elif cmd == "drill":
        drill(user, password, queue, int(sys.argv[5]), sys.argv[6])
    elif cmd == "poison":
        poison(user, password, queue)
    elif cmd == "corpus":
        corpus(user, password, queue, sys.argv[5])
    elif cmd == "forge":
        forge(user, password, queue, sys.argv[5], sys.argv[6] if len(sys.argv) > 6 else None)
    else:
        sys.exit("unknown command " + cmd)
