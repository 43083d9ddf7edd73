# redpoint — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
BUF := tools/node_modules/.bin/buf
GO_TEST_FLAGS ?= -count=1
# The race detector, without its pointer checks (checkptr) inside
# modernc's SQLite: C translated to Go, whose every pointer step they
# checked, the larger part of an SQLite-heavy test's CPU. Its memory
# accesses stay instrumented. (Leaving whole packages uninstrumented,
# -race=false, is not safe: the linker may keep their copy of a shared
# generic such as atomic.Pointer[T], and the detector then reports races
# in encoding/json that are not there.)
RACE := -race -gcflags='modernc.org/...=-d=checkptr=0'

.PHONY: demo build test test-console test-short test-real test-client generate check-generated lint breaking tools googleapis bench bench-http

## demo: build, then serve the Changzhi demo in embedded mode on loopback (REST 127.0.0.1:8080, gRPC 127.0.0.1:9090)
demo:
	@echo "redpoint: building bin/redpoint (the first build downloads and compiles every dependency: 2-5 minutes on 2 cores; later builds take seconds)"
	@go build -o bin/redpoint ./cmd/redpoint
	@echo "redpoint: starting the demo (the first start seeds ./redpoint-data in about 10 s; later starts reuse it). Ctrl-C stops it."
	@bin/redpoint serve --demo

## build: the binary, into bin/
build:
	go build -o bin/redpoint ./cmd/redpoint

## test: the whole suite under the race detector (embedded SQLite, Redis and S3 unless REDPOINT_TEST_DATABASE_URL / REDPOINT_TEST_REDIS_URL / REDPOINT_TEST_S3_URL are set), then the TypeScript client's walk and the console's walk in headless Chromium (apt-get install chromium)
test:
	go test $(RACE) $(GO_TEST_FLAGS) ./...
	./scripts/client-walk.sh
	./scripts/console-walk.sh

## test-console: the console's walk: headless Chromium (Debian's, /usr/bin/chromium; REDPOINT_CHROMIUM for another) drives the console of a fresh demo server as the secretary, the county and the city admin, on a phone and a desktop, every screen checked against the REST API; about 75-90 s
test-console: service/console/node_modules
	./scripts/console-walk.sh

## test-client: the TypeScript client (clients/ts) walks the agent, resident and secretary flows against a fresh demo server, straight and through Prism's validating proxy
test-client:
	./scripts/client-walk.sh

## test-short: the inner loop — the suite without the slow fault tests (outages, kills, crashes)
test-short:
	go test $(RACE) -short $(GO_TEST_FLAGS) ./...

## test-real: the suite's packages that use a database, Redis or S3 (scripts/service-packages.sh) against real services: PostgreSQL with a streaming read replica (scripts/pg-replica.sh: 127.0.0.1:5433), a three-master Redis Cluster (scripts/redis-cluster.sh: 127.0.0.1:7001-7003) and an S3 server process (scripts/s3-server.sh: versitygw on 127.0.0.1:7070, built once, about 3 minutes); then the packages with Redis scripts against the one Redis server on 127.0.0.1:6379
test-real:
	./scripts/s3-server.sh >/dev/null
	./scripts/pg-replica.sh >/dev/null
	cluster=$$(./scripts/redis-cluster.sh) && \
	REDPOINT_TEST_DATABASE_URL=$${REDPOINT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable} \
	REDPOINT_TEST_DATABASE_REPLICA_URL=$${REDPOINT_TEST_DATABASE_REPLICA_URL:-postgres://postgres@127.0.0.1:5433/test?sslmode=disable} \
	REDPOINT_TEST_REDIS_URL="$${REDPOINT_TEST_REDIS_URL:-$$cluster}" \
	REDPOINT_TEST_S3_URL="$${REDPOINT_TEST_S3_URL:-http://redpoint-test:redpoint-test-secret@127.0.0.1:7070/redpoint-test?lookup=path}" \
	go test $(GO_TEST_FLAGS) $$(./scripts/service-packages.sh)
	REDPOINT_TEST_DATABASE_URL=$${REDPOINT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable} \
	REDPOINT_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \
	go test $(GO_TEST_FLAGS) ./service/kv/... ./service/ratelimit/... ./service/leaderboard/...

## bench: the benchmarks, once each
bench:
	go test -run '^$$' -bench . -benchtime 1x ./...

## bench-http: the hot reads side by side with a bare net/http server sending the same bytes: ratios, p50/p99, bytes and RSS, and gRPC GetErrand against Health/Check; needs wrk and taskset (apt-get install wrk util-linux) and 2 cores; about 4 minutes. BENCH_FLAGS=--gzip for compressed answers, --runs 3 on a noisy machine
bench-http: build
	go run ./cmd/redpoint-load ratios --server bin/redpoint $(BENCH_FLAGS)

## tools: pinned buf, redocly and the Google API protos (npm, tools/), the TypeScript client's generator and Prism (npm, clients/ts/), and ECharts and the browser walk's Playwright (npm, service/console/); the protoc plugins and ent are Go tools in go.mod
tools: $(BUF) clients/ts/node_modules service/console/node_modules
$(BUF): tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund
	touch $(BUF)
clients/ts/node_modules: clients/ts/package.json clients/ts/package-lock.json
	cd clients/ts && npm ci --no-audit --no-fund
	touch clients/ts/node_modules
service/console/node_modules: service/console/package.json service/console/package-lock.json
	cd service/console && npm ci --no-audit --no-fund
	touch service/console/node_modules

## googleapis: google/api protos from the Go module cache, for buf
googleapis:
	./scripts/googleapis.sh

## generate: gen/ (buf, then the OpenAPI 3 document from buf's Swagger 2.0), the TypeScript client's types, ent/ (ent), new migrations if the schema changed (needs PostgreSQL for its dev database), and the console's copy of ECharts (service/console/static/vendor)
generate: tools googleapis
	$(BUF) generate
	go run ./tools/openapi3
	cd clients/ts && npm run --silent generate
	go generate ./ent
	go run ./tools/migrategen -name $${MIGRATION_NAME:-changes}
	cp service/console/node_modules/echarts/dist/echarts.common.min.js service/console/node_modules/echarts/LICENSE service/console/static/vendor/

## check-generated: regenerate and fail if anything differs from what is committed
check-generated: generate
	@if [ -n "$$(git status --porcelain -- gen ent service/store/migrations clients/ts/src/generated service/console/static/vendor)" ]; then \
		echo "generated code or migrations are stale: run 'make generate' and commit" >&2; \
		git status --short -- gen ent service/store/migrations clients/ts/src/generated service/console/static/vendor >&2; exit 1; fi

## lint: buf lint, golangci-lint (go vet's analyzers among its linters; pinned in tools/lint/go.mod; config .golangci.yml) and redocly lint of the OpenAPI document (config redocly.yaml)
lint: tools googleapis
	$(BUF) lint
	go tool -modfile=tools/lint/go.mod golangci-lint run ./...
	tools/node_modules/.bin/redocly lint --config redocly.yaml --format summary gen/openapi/redpoint.openapi.json

## breaking: fail if the API breaks clients of the previous commit's (BREAKING_AGAINST=origin/main to compare with another)
breaking: tools googleapis
	./scripts/buf-breaking.sh $(BREAKING_AGAINST)
