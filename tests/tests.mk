# Test programs: unit tests (cmocka), integration victims, fuzz targets.
tests:
.PHONY: tests
