"""Fills a generated blank form with openpyxl, as a unit would: forms_fill.py BLANK.xlsx OUT.xlsx ROWS.json

ROWS.json: {"sheet": "事件表", "first_row": 4, "rows": [[cell, ...], ...]} where a cell is null,
a string, a number, or {"datetime": "2026-09-23T10:00:00"} for a real date cell.
"""
import datetime as dt
import json
import sys

import openpyxl

blank, out, spec = sys.argv[1:4]
spec = json.load(open(spec, encoding="utf-8"))
wb = openpyxl.load_workbook(blank)
ws = wb[spec["sheet"]]
for i, row in enumerate(spec["rows"]):
    for j, v in enumerate(row):
        if isinstance(v, dict):
            v = dt.datetime.fromisoformat(v["datetime"])
        if v is not None:
            ws.cell(row=spec["first_row"] + i, column=1 + j, value=v)
wb.save(out)
