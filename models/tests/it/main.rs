//! Integration tests of vigil-models: golden comparisons with statsforecast and independent
//! metric calculations (files in `models/tests/golden/`, made by `make_golden.py` there).

mod golden;
