# yunpan: a cloud disk on a FastDFS-compatible DFS written in Go.
# `make run` starts the stack under ./run on loopback, `make stop` ends it,
# `make test` is what CI runs, `make bench` prints the benchmark ratios.

GO      ?= go
BIN     := $(CURDIR)/bin
FUZZTIME ?= 2s
BENCHTIME ?= 5s

.PHONY: all deps build run stop status test lint vet fmt-check tidy-check imports-check staticcheck shellcheck unit fuzz-brief fuzz bench bench-vs-fastdfs soak clean

all: build

# With YUNPAN_CPUPROFILE or YUNPAN_MEMPROFILE set, the programs are built able
# to write their CPU and heap profiles (internal/cpuprofile); otherwise
# runtime/pprof stays out of them.
BUILD_TAGS := $(if $(YUNPAN_CPUPROFILE)$(YUNPAN_MEMPROFILE),-tags cpuprofile)

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(BUILD_TAGS) -o $(BIN)/ ./dfs/cmd/... ./fcgi/... ./nginx/nginxconf

# Debian packages the stack and its tests use; installed only when missing.
# A font with Chinese glyphs (for the browser tests' screenshots of the
# zh-CN interface) is looked for with fc-list, having no command; failing to
# install it is only a warning.
DEB_PKGS := nginx:nginx mariadbd:mariadb-server redis-server:redis-server spawn-fcgi:spawn-fcgi chromium:chromium shellcheck:shellcheck rclone:rclone cadaver:cadaver
deps:
	@missing=""; for p in $(DEB_PKGS); do command -v $${p%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${p%%:*} ] || missing="$$missing $${p##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi; \
	if ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  echo "installing: fonts-noto-cjk (screenshots only: no test needs it)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends fonts-noto-cjk >/dev/null; } || \
	    echo "warning: fonts-noto-cjk not installed: Chinese text in screenshots shows as boxes"; \
	fi

run: build
	@YUNPAN_SKIP_BUILD=1 spawn/stack.sh start

stop:
	@spawn/stack.sh stop

status:
	@spawn/stack.sh status

# Static checks, run by `make test` before the tests. staticcheck and
# goimports are tool dependencies in go.mod (`go tool`), shellcheck a Debian
# package (DEB_PKGS).
lint: fmt-check vet tidy-check imports-check staticcheck shellcheck

GO_FILES = $$(git ls-files --cached --others --exclude-standard '*.go')
SHELL_SCRIPTS := spawn/*.sh internal/fuzz/fuzz.sh .ci/run

fmt-check:
	@out=$$(gofmt -l $(GO_FILES)); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags soak ./dfs/soak

tidy-check:
	$(GO) mod tidy -diff

# Imports in three groups: standard library, others, then this module's.
imports-check:
	@out=$$($(GO) tool goimports -local yunpan -l $(GO_FILES)); \
	if [ -n "$$out" ]; then echo "goimports -local yunpan needed:"; echo "$$out"; exit 1; fi

staticcheck:
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags soak ./dfs/soak

shellcheck: deps
	shellcheck $(SHELL_SCRIPTS)

unit: deps build
	YUNPAN_BIN=$(BIN) $(GO) test -race -count=1 -timeout 15m ./...

# Each fuzz target runs briefly on top of its kept corpus (testdata/fuzz).
fuzz-brief:
	@GO=$(GO) internal/fuzz/fuzz.sh $(FUZZTIME)

test: lint unit fuzz-brief

# Longer fuzzing, keeping what the fuzzer finds in testdata/fuzz:
#   make fuzz FUZZTIME=5m [FUZZPARALLEL=1] [FUZZONLY=regex of "dir Target"]
FUZZPARALLEL ?= 2
FUZZONLY ?= .
fuzz:
	@GO=$(GO) internal/fuzz/fuzz.sh -keep -parallel $(FUZZPARALLEL) -only '$(FUZZONLY)' $(FUZZTIME)

# The web benchmark runs first: fdfs_bench ends by deleting hundreds of
# thousands of files, after which creating files was seen up to 3x slower
# (ext4's inode allocator checking recently freed inodes), which would hit
# the raw runs and the web runs unevenly.
# BenchmarkWebChunked is a 1 GiB chunked upload through Nginx next to a raw
# DFS upload of the same size (docs/api.md §1.15). The thumbnail rate
# (12-megapixel JPEGs: images/s, CPU seconds an image) needs no daemon.
# With FASTDFS_BIN set, it ends with the side-by-side comparison below.
bench: build
	YUNPAN_BIN=$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkWeb(Chunked|DAV)?$$' -benchtime 2s -timeout 30m ./fcgi/e2e
	$(GO) test -run '^$$' -bench BenchmarkMake12MP -benchtime 10x ./internal/thumb
	$(BIN)/fdfs_bench -bin $(BIN) -time $(BENCHTIME)
	@if [ -n "$(FASTDFS_BIN)" ]; then $(BIN)/fdfs_bench -bin $(BIN) -vs-fastdfs $(FASTDFS_BIN) -time $(VS_TIME); \
	else echo "ratios to C FastDFS: make bench FASTDFS_BIN=<folder with its fdfs_trackerd and fdfs_storaged>"; fi

# Side by side with a reference C FastDFS built elsewhere (not needed by
# test or bench): both on a tmpfs, then on disk, the same load against each
# in alternation, 3 rounds; prints medians, ratios and peak RSS.
# make bench-vs-fastdfs FASTDFS_BIN=/usr/bin [VS_TIME=3s] [VS_FLAGS=-vs-trunk]
# (-vs-trunk: both in trunk mode, the small-file cases only)
VS_TIME ?= 3s
VS_FLAGS ?=
bench-vs-fastdfs: build
	@test -n "$(FASTDFS_BIN)" || { echo "usage: make bench-vs-fastdfs FASTDFS_BIN=<folder with fdfs_trackerd and fdfs_storaged>"; exit 2; }
	$(BIN)/fdfs_bench -bin $(BIN) -vs-fastdfs $(FASTDFS_BIN) -time $(VS_TIME) $(VS_FLAGS)

# Soak test (not part of `make test`): mixed DFS and web load on a 2-group,
# 2-replica cluster while storages are killed and restarted, then a check
# that nothing acknowledged is lost. make soak SOAK_TIME=1m
SOAK_TIME ?= 5m
soak: deps build
	YUNPAN_BIN=$(BIN) $(GO) test -tags soak -run TestSoak -count=1 -timeout 30m -v ./dfs/soak -args -duration=$(SOAK_TIME)

clean:
	rm -rf $(BIN)
