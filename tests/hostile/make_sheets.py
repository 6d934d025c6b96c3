#!/usr/bin/env python3
"""Writes tests/hostile/sheets/ and tests/hostile/sheet-cases.json: hostile and careless
spreadsheets (xlsx, xls, ods, csv), each with the exact error code and place the hub must
answer with.

They are made the way people and attackers make them: workbooks typed by a clerk (openpyxl),
workbooks whose XML was written or edited by hand (zipfile: a lying dimension, NaN in a date
cell, an entity bomb, a repeat count of a million), xls files from LibreOffice with their BIFF
records patched in place (a dimensions record claiming four billion rows, a sheet said to start
past the end), and CSV as Excel and scripts write it. Run it again after changing it; the test
reads what it writes:

    python3 tests/hostile/make_sheets.py

The xls patches start from tests/fixtures/forms/event-filled.xls (made by LibreOffice); the
files in tests/hostile/fuzz-found/ are inputs on which fuzzing (scripts/fuzz) found a crash.
"""
import csv
import io
import json
import os
import shutil
import struct
import zipfile

import openpyxl

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "sheets")
XLS_BASE = os.path.join(HERE, "..", "fixtures", "forms", "event-filled.xls")

HEADER = ["发现时间", "事件分级", "事件类别", "涉及省份", "事件发生单位概况", "发生时间", "事件经过", "危害和影响", "处置措施"]
GOOD = ["2026-11-20 03:05", "较大", "域名劫持", "广东", "集团DNS", "2026-11-20 03:00", "解析被篡改", "部分用户受影响", "已修正"]
COLS = "ABCDEFGHI"

cases = []


def case(name, ext, data, *expected, outcome="rejected", tail=None):
    """`expected`: (code, place) pairs; the place is exact, `{f}` stands for the file's name.
    `tail`: (bytes, times) the test appends to the file, so that large cases stay small here."""
    file = f"{len(cases) + 1:03}-{name}.{ext}"
    with open(os.path.join(OUT, file), "wb") as f:
        f.write(data)
    entry = {
        "name": name,
        "file": file,
        "outcome": outcome,
        "expected": [{"code": c, "place": p.replace("{f}", file)} for c, p in expected],
    }
    if tail:
        entry["tail"] = {"hex": tail[0].hex(), "times": tail[1]}
    cases.append(entry)


shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)


# ---------------------------------------------------------------- xlsx typed by a clerk (openpyxl)
def typed(rows, sheet="事件"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def one_bad(col, value):
    row = list(GOOD)
    row[COLS.index(col)] = value
    return typed([HEADER, GOOD, row])


# A good row and a bad one: the good row is accepted, the bad one refused at its cell.
for name, col, value, code in [
    ("grade-made-up", "B", "特大", "bad_grade"),
    ("grade-number", "B", 5, "bad_grade"),
    ("category-made-up", "C", "火山爆发", "bad_category"),
    ("province-made-up", "D", "火星", "bad_province"),
    ("province-number-not-a-code", "D", 99, "bad_province"),
    ("discovered-text-yesterday", "A", "昨天", "bad_time"),
    ("discovered-year-2099", "A", "2099-01-01 00:00", "bad_time"),
    ("discovered-year-1900", "A", "1900-01-01 00:00", "bad_time"),
    ("discovered-year-0001", "A", "0001-01-01 00:00", "bad_time"),
    ("discovered-month-13", "A", "2026-13-01 00:00", "bad_time"),
    ("discovered-feb-30", "A", "2026-02-30 10:00", "bad_time"),
    ("discovered-boolean", "A", True, "bad_time"),
    ("discovered-negative-number", "A", -5, "bad_time"),
    ("occurred-after-discovered", "F", "2026-11-20 05:00", "bad_time"),
    ("occurred-text", "F", "不详", "bad_time"),
    ("summary-blank-spaces", "G", "   ", "missing_field"),
]:
    case(name, "xlsx", one_bad(col, value), (code, f"事件!{col}3"), outcome="partly")

# Whole-file refusals of typed workbooks.
case("header-only", "xlsx", typed([HEADER]), ("empty_batch", "{f}"))
case("no-header-anywhere", "xlsx", typed([["姓名", "电话"], ["张三", "123"]]), ("unknown_kind", "{f}"))
case("empty-workbook", "xlsx", typed([]), ("unknown_kind", "{f}"))

def many_sheets(n):
    wb = openpyxl.Workbook()
    wb.active.append(HEADER)
    for i in range(n):
        wb.create_sheet(f"表{i}").append(HEADER)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


case("thirty-three-sheets", "xlsx", many_sheets(33), ("too_many", "{f}"))

# A formula whose cached value is an error, and one nobody computed (openpyxl writes no value).
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "事件"
ws.append(HEADER)
ws.append(GOOD)
ws.append(["=1/0"] + GOOD[1:])
buf = io.BytesIO()
wb.save(buf)
case("discovered-uncomputed-formula", "xlsx", buf.getvalue(), ("uncomputed_formula", "事件!A3"), outcome="partly")


# ---------------------------------------------------------------- xlsx written by hand (zipfile)
CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"""
RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"""
WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>"""
WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"""
# Style 1 is a date-time format (numFmtId 22), so a number in it is a date serial.
STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="22" applyNumberFormat="1"/></cellXfs></styleSheet>"""


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inline_row(r, values):
    cells = "".join(f'<c r="{COLS[i]}{r}" t="inlineStr"><is><t>{esc(v)}</t></is></c>' for i, v in enumerate(values))
    return f'<row r="{r}">{cells}</row>'


def sheet_xml(rows_xml, dimension="A1:I3", prolog=""):
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{prolog}'
            f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<dimension ref="{dimension}"/><sheetData>{rows_xml}</sheetData></worksheet>')


def by_hand(sheet, shared='<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="0" uniqueCount="0"/>',
            name="事件", extra=(), workbook=None, skip=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        parts = {
            "[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": RELS,
            "xl/workbook.xml": workbook or WORKBOOK.format(name=name), "xl/_rels/workbook.xml.rels": WORKBOOK_RELS,
            "xl/styles.xml": STYLES, "xl/sharedStrings.xml": shared, "xl/worksheets/sheet1.xml": sheet,
        }
        for part, text in list(parts.items()) + list(extra):
            if part not in skip:
                z.writestr(part, text)
    return buf.getvalue()


def with_cell_a3(cell):
    """The header, a good row, and row 3 whose 发现时间 cell (A3) is `cell`."""
    rest = "".join(f'<c r="{COLS[i]}3" t="inlineStr"><is><t>{esc(v)}</t></is></c>' for i, v in enumerate(GOOD) if i > 0)
    return sheet_xml(inline_row(1, HEADER) + inline_row(2, GOOD) + f'<row r="3">{cell}{rest}</row>')


# Date serials and values no calendar has, in a date-formatted cell.
for name, v in [("serial-minus-1e20", "-1E+20"), ("serial-plus-1e20", "1E+20"), ("serial-nan", "NaN"), ("serial-infinity", "INF"),
                ("serial-zero", "0"), ("serial-one", "1"), ("serial-9999-12-31", "2958465"), ("serial-2100", "73051"),
                ("serial-1e308", "1.7976931348623157E+308"), ("serial-negative-zero", "-0")]:
    case(f"date-{name}", "xlsx", by_hand(with_cell_a3(f'<c r="A3" s="1"><v>{v}</v></c>')), ("bad_time", "事件!A3"), outcome="partly")
# ISO dates (t="d") out of the world, and a cell whose value is not a number at all.
for name, v in [("iso-9999", "9999-12-31T00:00:00"), ("iso-0001", "0001-01-01T00:00:00"), ("iso-garbage", "not-a-date")]:
    case(f"date-{name}", "xlsx", by_hand(with_cell_a3(f'<c r="A3" t="d"><v>{v}</v></c>')), ("bad_time", "事件!A3"), outcome="partly")
case("number-cell-holding-text", "xlsx", by_hand(with_cell_a3('<c r="A3" s="1"><v>abc</v></c>')), ("bad_time", "事件!A3"), outcome="partly")
case("error-cell-ref", "xlsx", by_hand(with_cell_a3('<c r="A3" t="e"><v>#REF!</v></c>')), ("wrong_type", "事件!A3"), outcome="partly")
case("error-cell-div0", "xlsx", by_hand(with_cell_a3('<c r="A3" t="e"><v>#DIV/0!</v></c>')), ("wrong_type", "事件!A3"), outcome="partly")
case("shared-string-index-past-end", "xlsx", by_hand(with_cell_a3('<c r="A3" t="s"><v>999999</v></c>')), ("not_object", "{f}:事件"))
case("shared-string-index-negative", "xlsx", by_hand(with_cell_a3('<c r="A3" t="s"><v>-1</v></c>')), ("not_object", "{f}:事件"))
case("cell-reference-garbage", "xlsx", by_hand(with_cell_a3('<c r="3A" t="inlineStr"><is><t>x</t></is></c>')), ("not_object", "{f}:事件"))

# Structure that lies or is missing.
rows3 = inline_row(1, HEADER) + inline_row(2, GOOD)
case("dimension-claims-whole-sheet", "xlsx", by_hand(sheet_xml(rows3, "A1:XFD1048576")), outcome="accepted")
case("two-cells-a-million-rows-apart", "xlsx",
     by_hand(sheet_xml(rows3 + '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>', "A1:XFD1048576")),
     outcome="accepted")  # the far cell is in no column of the form
case("row-past-the-last-row", "xlsx",
     by_hand(sheet_xml(rows3 + '<row r="1048577"><c r="A1048577" t="inlineStr"><is><t>x</t></is></c></row>')), ("bad_time", "事件!A1048577"),
     outcome="partly")
case("sheet-part-missing", "xlsx", by_hand(sheet_xml(rows3), skip=("xl/worksheets/sheet1.xml",)), ("not_object", "{f}:事件"))
case("workbook-part-missing", "xlsx", by_hand(sheet_xml(rows3), skip=("xl/workbook.xml",)), ("not_object", "{f}"))
case("sheet-xml-truncated", "xlsx", by_hand(sheet_xml(rows3)[:-40]), ("not_object", "{f}:事件"))
case("sheet-xml-not-xml", "xlsx", by_hand("this is not xml at all"), ("not_object", "{f}:事件"))
# Entities: a billion laughs and an external entity naming a file on the hub. Neither is expanded.
laughs = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
case("billion-laughs-in-sheet", "xlsx",
     by_hand(sheet_xml(inline_row(1, HEADER) + inline_row(2, GOOD) + '<row r="3"><c r="A3" t="inlineStr"><is><t>&lol9;</t></is></c></row>', prolog=laughs)),
     ("not_object", "{f}:事件"))
xxe = '<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
case("external-entity-in-shared-strings", "xlsx",
     by_hand(sheet_xml(rows3), shared=f'<?xml version="1.0"?>{xxe}<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&xxe;</t></si></sst>'),
     ("not_object", "{f}"))
case("nesting-a-hundred-thousand-deep", "xlsx",
     by_hand(sheet_xml(rows3 + '<row r="3"><c r="A3" t="inlineStr"><is><t>' + "<r>" * 100_000 + "</r>" * 100_000 + "</t></is></c></row>")),
     outcome="accepted")  # read without recursion; the cell holds no text
case("sheet-name-is-markup", "xlsx", by_hand(sheet_xml(inline_row(1, HEADER) + inline_row(2, GOOD) + inline_row(3, ["昨天"] + GOOD[1:])), name="&lt;script&gt;x&lt;/script&gt;"),
     ("bad_time", "<script>x</script>!A3"), outcome="partly")


def zip_of(parts, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in parts:
            z.writestr(name, data)
    return buf.getvalue()


case("zip-bomb-part", "xlsx", zip_of([("xl/worksheets/sheet1.xml", b"<" + b" " * (40 << 20))]), ("too_large", "{f}:xl/worksheets/sheet1.xml"))
case("zip-eleven-thousand-parts", "xlsx", zip_of([(f"p{i}", b"") for i in range(11_000)], zipfile.ZIP_STORED), ("too_many", "{f}"))
good_xlsx = typed([HEADER, GOOD])
case("xlsx-truncated-half", "xlsx", good_xlsx[: len(good_xlsx) // 2], ("not_object", "{f}"))
case("xlsx-central-directory-gone", "xlsx", good_xlsx[: good_xlsx.rfind(b"PK\x01\x02")], ("not_object", "{f}"))
case("empty-file-named-xlsx", "xlsx", b"", ("not_object", "{f}"))
case("pdf-renamed-xlsx", "xlsx", b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n", ("not_object", "{f}"))
case("zip-of-text-named-xlsx", "xlsx", zip_of([("readme.txt", "你好")]), ("not_object", "{f}"))
case("xlsx-named-xls", "xls", good_xlsx, outcome="accepted")
case("xlsb-binary-workbook", "xlsx", zip_of([("[Content_Types].xml", CONTENT_TYPES), ("xl/workbook.bin", b"\x83\x01\x00" * 100)]), ("not_object", "{f}"))


# ---------------------------------------------------------------- ods written by hand
ODS_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"""


def ods_cell(v):
    if isinstance(v, str) and v.startswith("<"):
        return v
    return f'<table:table-cell office:value-type="string"><text:p>{esc(str(v))}</text:p></table:table-cell>'


def ods_row(values, repeat=None):
    attr = f' table:number-rows-repeated="{repeat}"' if repeat else ""
    return f"<table:table-row{attr}>" + "".join(ods_cell(v) for v in values) + "</table:table-row>"


def ods(rows_xml, name="事件", prolog="", skip_content=False):
    content = (f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
               f'office:version="1.2"><office:body><office:spreadsheet><table:table table:name="{name}">{rows_xml}</table:table>'
               "</office:spreadsheet></office:body></office:document-content>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        if not skip_content:
            z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", ODS_MANIFEST, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


ods_good = ods_row(HEADER) + ods_row(GOOD)
# What LibreOffice itself writes after the data: empty cells and rows repeated to the sheet's end.
lo_tail = ('<table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>')
case("ods-libreoffice-trailing-repeats", "ods", ods(ods_good + lo_tail), outcome="accepted")
one_value_everywhere = '<table:table-cell table:number-columns-repeated="16384" office:value-type="string"><text:p>x</text:p></table:table-cell>'
case("ods-one-value-repeated-over-the-sheet", "ods", ods(ods_good + f'<table:table-row table:number-rows-repeated="1048574">{one_value_everywhere}</table:table-row>'),
     ("too_large", "{f}:事件"))
case("ods-ten-thousand-wide-rows", "ods", ods(ods_good + f"<table:table-row>{one_value_everywhere}</table:table-row>" * 10_000), ("too_large", "{f}:事件"))
case("ods-value-in-the-last-cell", "ods",
     ods(ods_good + '<table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="16383"/>'
         '<table:table-cell office:value-type="float" office:value="1"/></table:table-row>'), ("too_large", "{f}:事件"))
case("ods-repeat-not-a-number", "ods", ods(ods_good + '<table:table-row table:number-rows-repeated="lots">' + ods_cell("x") + "</table:table-row>"), ("not_object", "{f}:事件"))
case("ods-repeat-negative", "ods", ods(ods_good + '<table:table-row table:number-rows-repeated="-1">' + ods_cell("x") + "</table:table-row>"), ("not_object", "{f}:事件"))
case("ods-content-missing", "ods", ods(ods_good, skip_content=True), ("not_object", "{f}"))
case("ods-content-truncated", "ods", (lambda b: b)(zip_of([("mimetype", "application/vnd.oasis.opendocument.spreadsheet"), ("content.xml", "<office:document-content")])), ("not_object", "{f}"))
# Entities are never expanded: the cell keeps no text, so the row lacks its time.
case("ods-billion-laughs", "ods", ods(ods_good + ods_row(["&lol9;"]), prolog=laughs), ("bad_time", "事件!A3"), outcome="partly")
for name, cell in [
    ("ods-date-9999", '<table:table-cell office:value-type="date" office:date-value="9999-12-31T00:00:00"/>'),
    ("ods-date-0001", '<table:table-cell office:value-type="date" office:date-value="0001-01-01"/>'),
    ("ods-date-garbage", '<table:table-cell office:value-type="date" office:date-value="昨天"/>'),
    ("ods-float-nan", '<table:table-cell office:value-type="float" office:value="NaN"/>'),
    ("ods-float-huge", '<table:table-cell office:value-type="float" office:value="1e300"/>'),
]:
    case(name, "ods", ods(ods_row(HEADER) + ods_row(GOOD) + ods_row([cell] + GOOD[1:])), ("bad_time", "事件!A3"), outcome="partly")
case("ods-grade-made-up", "ods", ods(ods_row(HEADER) + ods_row(GOOD) + ods_row([GOOD[0], "特大"] + GOOD[2:])), ("bad_grade", "事件!B3"), outcome="partly")
case("ods-header-only", "ods", ods(ods_row(HEADER)), ("empty_batch", "{f}"))
# What a reviewer of the guard found: values given only by an attribute, a repeat count written
# as a character reference, a row nested inside a cell, a long value repeated across the sheet,
# and a content.xml that ends inside its table (calamine would read it forever).
value_only = '<table:table-cell office:value="1" table:number-columns-repeated="16384"/>'
case("ods-value-only-in-an-attribute", "ods", ods(ods_good + f'<table:table-row table:number-rows-repeated="6000">{value_only}</table:table-row>'),
     ("too_large", "{f}:事件"))
case("ods-repeat-as-character-reference", "ods",
     ods(ods_good + f'<table:table-row table:number-rows-repeated="&#49;000000">{one_value_everywhere}</table:table-row>'), ("too_large", "{f}:事件"))
case("ods-row-nested-in-a-cell", "ods",
     ods(ods_good + '<table:table-row table:number-rows-repeated="6000"><table:table-cell office:value-type="string" table:number-columns-repeated="16384">'
         '<table:table-row></table:table-row><text:p>x</text:p></table:table-cell></table:table-row>'), ("too_large", "{f}:事件"))
case("ods-long-value-repeated", "ods",
     ods(ods_good + '<table:table-row><table:table-cell office:value-type="string" table:number-columns-repeated="16384"><text:p>'
         + "x" * 100_000 + '</text:p></table:table-cell></table:table-row>'), ("too_large", "{f}:事件"))
case("ods-spaces-element-two-billion", "ods",
     ods(ods_good + '<table:table-row><table:table-cell office:value-type="string"><text:p><text:s text:c="2000000000"/></text:p></table:table-cell></table:table-row>'),
     ("too_large", "{f}:事件"))
case("ods-ends-inside-its-table", "ods",
     zip_of([("mimetype", "application/vnd.oasis.opendocument.spreadsheet"), ("content.xml", (
         '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
         'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
         '<office:body><office:spreadsheet><table:table table:name="事件">' + ods_good))]), ("not_object", "{f}:事件"))


# ---------------------------------------------------------------- xls from LibreOffice, patched
base = open(XLS_BASE, "rb").read()


def patched(record_type, length, new_data, occurrence=0):
    """The base xls with the data of its `occurrence`-th record of that type and length replaced."""
    head = struct.pack("<HH", record_type, length)
    at = -1
    for _ in range(occurrence + 1):
        at = base.index(head, at + 1)
    assert len(new_data) == length
    return base[: at + 4] + new_data + base[at + 4 + length:]


case("xls-dimensions-four-billion-rows", "xls", patched(0x0200, 14, struct.pack("<IIHHH", 0, 0xFFFFFFFF, 0, 12, 0)), ("too_large", "{f}:第1个工作表"))
case("xls-dimensions-last-before-first", "xls", patched(0x0200, 14, struct.pack("<IIHHH", 500, 10, 0, 12, 0)), ("not_object", "{f}:第1个工作表"))
case("xls-dimensions-one-column-backwards", "xls", patched(0x0200, 14, struct.pack("<IIHHH", 0, 10, 5, 5, 0)), ("not_object", "{f}:第1个工作表"))
# BoundSheet8: the sheet's start in the stream, then its state, type and name.
bs = base.index(struct.pack("<H", 0x0085))
bs_len = struct.unpack("<H", base[bs + 2: bs + 4])[0]
case("xls-sheet-starts-past-the-end", "xls", base[: bs + 4] + struct.pack("<I", 0x7FFFFFF0) + base[bs + 8:], ("not_object", "{f}:第1个工作表"))
# A number cell (record 0x0203) moved to the last row and column of the format.
num = base.index(struct.pack("<HH", 0x0203, 14))
case("xls-cell-moved-to-iv65536", "xls", base[: num + 4] + struct.pack("<HH", 65535, 255) + base[num + 8:], ("too_large", "{f}:第1个工作表"))
case("xls-truncated-half", "xls", base[: len(base) // 2], ("not_object", "{f}"))
case("xls-header-then-garbage", "xls", base[:512] + b"\xAB" * 4096, ("not_object", "{f}"))
case("xls-ole-magic-only", "xls", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", ("not_object", "{f}"))


# ---------------------------------------------------------------- csv
def csv_bytes(rows, encoding="utf-8-sig", **kw):
    s = io.StringIO()
    csv.writer(s, **kw).writerows(rows)
    return s.getvalue().encode(encoding)


case("csv-bad-grade", "csv", csv_bytes([HEADER, GOOD, [GOOD[0], "特大"] + GOOD[2:]]), ("bad_grade", "{f}!B3"), outcome="partly")
case("csv-date-9999", "csv", csv_bytes([HEADER, GOOD, ["9999-12-31 00:00"] + GOOD[1:]]), ("bad_time", "{f}!A3"), outcome="partly")
case("csv-gbk-bad-province", "csv", csv_bytes([HEADER, GOOD, GOOD[:3] + ["火星"] + GOOD[4:]], encoding="gb18030"), ("bad_province", "{f}!D3"), outcome="partly")
case("csv-unterminated-quote", "csv", csv_bytes([HEADER, GOOD]) + b'"2026-11-20 03:05,', ("missing_field", "{f}!B3"), outcome="partly", tail=(b"x" * 1024, 1024))
case("csv-million-columns", "csv", csv_bytes([HEADER]), ("too_large", "{f}"), tail=(b"," * 1000, 1000))
case("csv-seventeen-thousand-columns-of-values", "csv", csv_bytes([HEADER]), ("too_large", "{f}"), tail=(b"x,", 17_000))
case("csv-nul-bytes", "csv", csv_bytes([HEADER, GOOD]) + b"\x00\x00\x00," * 100 + b"\n", ("bad_time", "{f}!A3"), outcome="partly")
# Excel's "Unicode text": UTF-16 with a byte-order mark, tab-separated; read like any CSV.
case("tsv-utf16-from-excel-unicode-text", "csv", "\r\n".join("\t".join(r) for r in [HEADER, GOOD, [GOOD[0], "特大"] + GOOD[2:]]).encode("utf-16"),
     ("bad_grade", "{f}!B3"), outcome="partly")
case("tsv-utf16-broken-surrogate", "csv", "\t".join(HEADER).encode("utf-16") + b"\x00\xd8\x41\x00", ("not_json", "{f}"))
case("csv-semicolons", "csv", ";".join(HEADER).encode() + b"\n" + ";".join(GOOD).encode() + b"\n", ("unknown_kind", "{f}"))
case("csv-header-only", "csv", csv_bytes([HEADER]), ("empty_batch", "{f}"))
case("csv-mac-line-endings", "csv", csv_bytes([HEADER, GOOD], lineterminator="\r"), outcome="accepted")
case("csv-wide-record-behind-quoted-line-breaks", "csv", csv_bytes([HEADER]) + b'"a\nb"' + b"," * 10_000 + b'"c\nd"' + b"," * 10_000 + b"x\n",
     ("too_large", "{f}"))
case("csv-binary-garbage", "csv", bytes(range(256)) * 64, ("not_json", "{f}"))
case("csv-five-million-rows", "csv", csv_bytes([HEADER]), ("too_large", "{f}"), tail=(b"x\n" * 1000, 5000))


# ---------------------------------------------------------------- what fuzzing found
# Inputs that crashed a fuzz target (scripts/fuzz), kept as they were found once fixed or
# contained: each is refused as a damaged file, and the hub goes on.
FOUND = os.path.join(HERE, "fuzz-found")
for found in sorted(os.listdir(FOUND)):
    name, ext = os.path.splitext(found)
    case(f"fuzz-{name}", ext[1:], open(os.path.join(FOUND, found), "rb").read(), ("not_object", "{f}"))

with open(os.path.join(HERE, "sheet-cases.json"), "w", encoding="utf-8") as f:
    json.dump({"made_by": "tests/hostile/make_sheets.py", "cases": cases}, f, ensure_ascii=False, indent=1)
print(f"{len(cases)} cases in {OUT}")
