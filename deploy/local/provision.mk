# Provisions the local stack's servers into the cache, keyed by version, from public registries only: Kafka's jars
# from Maven Central, MinIO, FerretDB and Jaeger built from the Go module proxy, PostgreSQL from Debian's packages.
#
# Make rather than the TypeScript stack tool because it needs nothing but go, mvn and a shell: `npm test` and
# `npm start` start it in the background before `npm ci`, so the servers build while dependencies install and the
# static checks and unit tier run. Targets are the cached files themselves, so a warm cache is a no-op, and `-j`
# builds the servers concurrently (their downloads overlap; each Go build uses every core).
#
#   make -f deploy/local/provision.mk -j4 CACHE=~/.cache/keel kafka minio ferretdb jaeger
#
# Go builds run with -v, so the logs name each package as it compiles (the progress lines of `stack up` read them).
# Callers hold $(CACHE)/provision.lock (flock) so that two runs never build the same thing at once. Each server's
# tool output goes to $(CACHE)/provision-logs/<server>.log; stdout gets one line when a build starts and ends.
HERE := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
include $(HERE)versions.env

CACHE ?= $(HOME)/.cache/keel
LOGS := $(CACHE)/provision-logs
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DELETE_ON_ERROR:
.SILENT:
.PHONY: all kafka minio ferretdb jaeger postgres kafka-secure minio-secure minio-admin

KAFKA_JAR := $(CACHE)/kafka-$(KAFKA_VERSION)/libs/kafka_2.13-$(KAFKA_VERSION).jar
MINIO_BIN := $(CACHE)/minio-$(MINIO_VERSION)/minio
FERRETDB_BIN := $(CACHE)/ferretdb-$(FERRETDB_BUILD)/ferretdb
JAEGER_BIN := $(CACHE)/jaeger-$(JAEGER_VERSION)/jaeger
# The secure profile's MinIO admin tool (deploy/local/minio-admin), keyed by a hash of its sources.
MINIO_ADMIN_SRC := $(wildcard $(HERE)minio-admin/*.go) $(HERE)minio-admin/go.mod $(HERE)minio-admin/go.sum
MINIO_ADMIN_BIN := $(CACHE)/minio-admin-$(shell cat $(MINIO_ADMIN_SRC) | sha256sum | cut -c1-12)/keel-minio-admin
# A link to the directory of PostgreSQL's binaries (the machine's, or Debian's packages unpacked beside it).
POSTGRES_BIN := $(CACHE)/postgres-$(POSTGRES_MAJOR)/bin

all: kafka minio ferretdb jaeger postgres
kafka: $(KAFKA_JAR)
minio: $(MINIO_BIN)
ferretdb: $(FERRETDB_BIN)
jaeger: $(JAEGER_BIN)
postgres: $(POSTGRES_BIN)
minio-admin: $(MINIO_ADMIN_BIN)
# The secure profile (tools/stack/secure.ts) runs the same Kafka and MinIO builds on other ports.
kafka-secure: $(KAFKA_JAR)
minio-secure: $(MINIO_BIN) $(MINIO_ADMIN_BIN)

# Runs the rest of the recipe with its output in the server's log; says when it starts and how long it took.
define logged
mkdir -p $(LOGS) $(@D)
log=$(LOGS)/$(1).log; started=$$(date +%s)
echo "[provision] $(1) $(2): building (log $$log)"
exec 3>&1 >"$$log" 2>&1
trap 'status=$$?; exec 1>&3; if [ $$status -ne 0 ]; then echo "[provision] $(1) failed (exit $$status); last lines of $$log:"; tail -n 15 "$$log"; fi' EXIT
endef

define done_line
echo "[provision] $(1) $(2): ready in $$(( $$(date +%s) - started )) s" >&3
endef

GO_ENV := CGO_ENABLED=0 GOFLAGS=-trimpath

# Kafka: runtime jars resolved by Maven from the POM kept beside this file; moved into place whole.
$(KAFKA_JAR):
	$(call logged,kafka,$(KAFKA_VERSION))
	libs=$(CACHE)/kafka-$(KAFKA_VERSION)/libs
	rm -rf "$$libs.partial"
	mvn -q -B -f $(HERE)kafka/pom.xml -Dkafka.version=$(KAFKA_VERSION) dependency:copy-dependencies \
	  -DincludeScope=runtime -DoutputDirectory="$$libs.partial"
	rm -rf "$$libs" && mv "$$libs.partial" "$$libs"
	$(call done_line,kafka,$(KAFKA_VERSION))

# MinIO: a plain `go install` (the module has no replace directives).
$(MINIO_BIN):
	$(call logged,minio,$(MINIO_VERSION))
	bin=$(@D)/.gobin; rm -rf "$$bin"; mkdir -p "$$bin"
	$(GO_ENV) GOBIN="$$bin" go install -v github.com/minio/minio@$(MINIO_VERSION)
	mv "$$bin/minio" $@ && rm -rf "$$bin"
	$(call done_line,minio,$(MINIO_VERSION))

# The admin tool: a small module of our own on MinIO's admin client (madmin-go), its go.sum committed.
$(MINIO_ADMIN_BIN): $(MINIO_ADMIN_SRC)
	$(call logged,minio-admin,$(notdir $(@D)))
	cd $(HERE)minio-admin
	$(GO_ENV) go build -v -o $@.partial .
	mv $@.partial $@
	$(call done_line,minio-admin,$(notdir $(@D)))

# FerretDB and Jaeger are built as dependencies of a throwaway module: that keeps upstream's generated files and lets
# us replay replace directives, which `go install pkg@version` refuses.
#   $(1) module, $(2) version, $(3) package, $(4) output, $(5) replace directives, $(6) shell that patches ./module-src
define go_tool_build
work=$$(mktemp -d); cd "$$work"
$(GO_ENV) go mod init keel.local/build
for replace in $(5); do $(GO_ENV) go mod edit -replace="$$replace"; done
if [ -n '$(6)' ]; then
  dir=$$($(GO_ENV) go mod download -json $(1)@$(2) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p')
  cp -r "$$dir" module-src && chmod -R u+w module-src
  $(6)
  $(GO_ENV) go mod edit -replace=$(1)=./module-src
fi
$(GO_ENV) go get -tool $(3)@$(2)
$(GO_ENV) go build -v -o $(4).partial $(3)
mv $(4).partial $(4)
cd / && rm -rf "$$work"
endef

# FerretDB's module zip lacks its generated version file, and a binary built without it panics at start.
# id-index.patch: upstream's SQLite backend spells the _id path of its queries differently from its _id index, so
# SQLite never uses that index and every `_id` lookup scans the collection (a miss on 20,000 documents: 640 ms; with
# the patch 1 ms); the patch also answers `{_id: {$in: [...]}}` from the index.
FERRETDB_PATCHES := $(wildcard $(HERE)ferretdb/*.patch)
$(FERRETDB_BIN): $(FERRETDB_PATCHES)
	$(call logged,ferretdb,$(FERRETDB_BUILD))
	$(call go_tool_build,github.com/FerretDB/FerretDB,$(FERRETDB_VERSION),github.com/FerretDB/FerretDB/cmd/ferretdb,$@,,echo $(FERRETDB_VERSION) > module-src/build/version/version.txt; for p in $(FERRETDB_PATCHES); do patch -d module-src -p1 --forward --quiet < "$$p"; done)
	$(call done_line,ferretdb,$(FERRETDB_BUILD))

# Jaeger: upstream's go.mod replaces sarama; without that replace the module graph does not build.
$(JAEGER_BIN):
	$(call logged,jaeger,$(JAEGER_VERSION))
	$(call go_tool_build,github.com/jaegertracing/jaeger,$(JAEGER_VERSION),github.com/jaegertracing/jaeger/cmd/jaeger,$@,github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0,)
	$(call done_line,jaeger,$(JAEGER_VERSION))

# PostgreSQL: Debian's build. A machine with the server package installed (/usr/lib/postgresql/<major>/bin, or where
# pg_config points) is linked as is; otherwise `apt-get download` fetches the server and client packages (no root
# install) and `dpkg -x` unpacks them here. PostgreSQL finds its share and lib directories relative to its binary,
# so the unpacked tree runs in place; the shared libraries it links (ICU, OpenSSL, libxml2...) are the machine's.
$(POSTGRES_BIN):
	$(call logged,postgres,$(POSTGRES_MAJOR))
	mkdir -p $(@D)
	found=
	for dir in /usr/lib/postgresql/$(POSTGRES_MAJOR)/bin "$$(pg_config --bindir 2>/dev/null || true)"; do
	  if [ -x "$$dir/postgres" ] && [ -x "$$dir/initdb" ] && [ -x "$$dir/pg_isready" ] && \
	    "$$dir/postgres" --version | grep -q " $(POSTGRES_MAJOR)\."; then found=$$dir; break; fi
	done
	if [ -z "$$found" ]; then
	  work=$$(mktemp -d); cd "$$work"
	  apt-get download postgresql-$(POSTGRES_MAJOR) postgresql-client-$(POSTGRES_MAJOR) libpq5
	  rm -rf $(@D)/root.partial
	  for deb in *.deb; do dpkg -x "$$deb" $(@D)/root.partial; done
	  rm -rf $(@D)/root && mv $(@D)/root.partial $(@D)/root
	  cd / && rm -rf "$$work"
	  found=$(@D)/root/usr/lib/postgresql/$(POSTGRES_MAJOR)/bin
	fi
	echo "binaries: $$found"
	ln -sfn "$$found" $@
	$(call done_line,postgres,$(POSTGRES_MAJOR))
