"""Writes a workbook the way a clerk types one in Excel: sheets of rows of plain cells, read
from a JSON file. Run by tests/it/forms.rs with openpyxl:

    python forms_handmade.py spec.json out.xlsx

spec.json: {"sheets": [{"name": "僵尸", "rows": [["控制端IP地址", "端口"], ["198.51.100.1", 6667]],
"merge": ["A5:F5"]}]}. Numbers stay numbers, strings stay strings, null leaves a cell empty.
"""
import json
import sys

import openpyxl

spec = json.load(open(sys.argv[1], encoding="utf-8"))
wb = openpyxl.Workbook()
wb.remove(wb.active)
for sheet in spec["sheets"]:
    ws = wb.create_sheet(sheet["name"])
    for row in sheet["rows"]:
        ws.append(row)
    for cells in sheet.get("merge", []):
        ws.merge_cells(cells)
wb.save(sys.argv[2])
