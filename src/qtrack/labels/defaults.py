"""The label templates qtrack ships: two common sheet formats and a thermal roll label."""

from typing import Any

SHIPPED_TEMPLATES: dict[str, dict[str, Any]] = {
    # 3 x 7 labels of 63.5 x 38.1 mm on A4 (the common "21 per sheet" format).
    "a4-21": {
        "name": "A4, 21 labels (63.5 x 38.1 mm)",
        "page": "A4",
        "label_width_mm": 63.5,
        "label_height_mm": 38.1,
        "columns": 3,
        "rows": 7,
        "margin_top_mm": 15.15,
        "margin_left_mm": 7.25,
        "gap_x_mm": 2.5,
        "gap_y_mm": 0,
        "fields": "qr,code,name,batch,expiry",
        "font_size_pt": 8,
    },
    # 3 x 10 labels of 66.7 x 25.4 mm on US Letter (the common "30 per sheet" format).
    "letter-30": {
        "name": "Letter, 30 labels (66.7 x 25.4 mm)",
        "page": "Letter",
        "label_width_mm": 66.7,
        "label_height_mm": 25.4,
        "columns": 3,
        "rows": 10,
        "margin_top_mm": 12.7,
        "margin_left_mm": 4.8,
        "gap_x_mm": 3.2,
        "gap_y_mm": 0,
        "fields": "qr,code,name,batch",
        "font_size_pt": 7,
    },
    # One 50 x 30 mm label per page, for roll printers.
    "roll-50x30": {
        "name": "Roll, 50 x 30 mm",
        "page": "roll",
        "label_width_mm": 50,
        "label_height_mm": 30,
        "columns": 1,
        "rows": 1,
        "fields": "qr,code,name,expiry",
        "font_size_pt": 7,
    },
}
