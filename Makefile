# pgrouter build: `make` builds build/pgrouter and the unit tests; `make test` runs everything.
CC      ?= cc
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Isrc -pthread $(SANFLAGS)
LDLIBS  := -levent_core -levent_extra -levent_pthreads -linih -lpg_query -lhiredis -lssl -lcrypto -lpthread -lm
PYTHON  ?= /usr/bin/python3

BUILD   ?= build
SRC     := $(wildcard src/*.c src/*/*.c)
OBJ     := $(SRC:src/%.c=$(BUILD)/obj/%.o)
LIBOBJ  := $(filter-out $(BUILD)/obj/main.o,$(OBJ))
UNITSRC := $(wildcard tests/unit/test_*.c)
UNITBIN := $(UNITSRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test test-asan unit integration clean demo demo-stop asan fuzz bench bench-classify check-layers man install \
        uninstall
all: $(BUILD)/pgrouter $(UNITBIN)

$(BUILD)/pgrouter: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJ) tests/unit/unit.h tests/unit/corpus.h tests/unit/config_load.h \
             tests/unit/quiet_check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIBOBJ) $(LDFLAGS) $(LDLIBS)

# The status page is built into the binary (.incbin in http_page.c).
$(BUILD)/obj/admin/http_page.o: src/admin/status_page.html

-include $(OBJ:.o=.d)

# Unit tests print one "N passed, N failed" line in total.
unit: $(UNITBIN)
	@tests/unit/run_all.sh $(UNITBIN)

integration: $(BUILD)/pgrouter
	PGR_BUILD_DIR=$(BUILD) $(PYTHON) -m pytest -q tests/integration $(PYTEST_ARGS)

# The layer rule (docs/architecture.md): no file under src/ includes or calls a higher layer.
check-layers: all
	$(PYTHON) scripts/check_layers.py $(BUILD)

deps:
	@scripts/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

# Same build with AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/.
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all

FUZZ_SECONDS ?= 60

# libFuzzer targets (clang, ASan+UBSan) built into build-fuzz/, each run FUZZ_SECONDS seconds.
fuzz:
	FUZZ_BUILD=build-fuzz fuzz/run.sh $(FUZZ_SECONDS)

# The integration suite against the ASan+UBSan build.
test-asan: asan
	PGROUTER_BIN=$(CURDIR)/build-asan/pgrouter PGR_BUILD_DIR=build-asan $(PYTHON) -m pytest -q tests/integration -m "not plain_build" $(PYTEST_ARGS)

# pgbench: direct vs pgrouter vs PgBouncer vs Pgpool-II in one run, the performance targets and ratios in bench/results/ (see bench/README.md; `make bench BENCH_ARGS=--quick` for the smoke run).
bench: all
	bench/run $(BENCH_ARGS)

# Classifier cost per statement: fast path, libpg_query, and cache hit.
$(BUILD)/bench_classify: tests/unit/bench_classify.c $(LIBOBJ)
	$(CC) $(CFLAGS) -o $@ $< $(LIBOBJ) $(LDFLAGS) $(LDLIBS)

bench-classify: $(BUILD)/bench_classify
	$(BUILD)/bench_classify

demo: deps
	@scripts/demo.sh start

demo-stop:
	@scripts/demo.sh stop

# pgrouter.ini(5) is generated from docs/configuration.md (committed; a unit test checks it lists every setting).
man:
	$(PYTHON) scripts/gen_man_ini.py

# Install layout (Debian's, with PREFIX=/usr): DESTDIR for staging (packages), PREFIX for the tree.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/pgrouter
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
DOCS       := README.md $(wildcard docs/*.md)

# The example config goes to $(SYSCONFDIR)/pgrouter/pgrouter.ini only when none is there (an operator's is kept);
# the units' paths follow SBINDIR and SYSCONFDIR.
install: $(BUILD)/pgrouter
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/examples \
	  $(DESTDIR)$(SYSCONFDIR)/pgrouter $(DESTDIR)$(UNITDIR)
	install -m 755 $(BUILD)/pgrouter $(DESTDIR)$(SBINDIR)/pgrouter
	install -m 644 man/pgrouter.1 $(DESTDIR)$(MANDIR)/man1/pgrouter.1
	install -m 644 man/pgrouter.ini.5 $(DESTDIR)$(MANDIR)/man5/pgrouter.ini.5
	install -m 644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 644 etc/pgrouter.ini $(DESTDIR)$(DOCDIR)/examples/pgrouter.ini
	[ -e $(DESTDIR)$(SYSCONFDIR)/pgrouter/pgrouter.ini ] || \
	  install -m 640 etc/pgrouter.ini $(DESTDIR)$(SYSCONFDIR)/pgrouter/pgrouter.ini
	for u in pgrouter.service pgrouter.socket; do \
	  sed -e 's|/usr/sbin/pgrouter|$(SBINDIR)/pgrouter|g' -e 's|/etc/pgrouter/|$(SYSCONFDIR)/pgrouter/|g' \
	    etc/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u && chmod 644 $(DESTDIR)$(UNITDIR)/$$u; \
	done

# Removes what install put there except the configuration (an operator's file, as dpkg keeps conffiles).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/pgrouter $(DESTDIR)$(MANDIR)/man1/pgrouter.1 $(DESTDIR)$(MANDIR)/man5/pgrouter.ini.5 \
	  $(DESTDIR)$(UNITDIR)/pgrouter.service $(DESTDIR)$(UNITDIR)/pgrouter.socket
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-asan build-fuzz
