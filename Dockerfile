# xlb's image: the daemon and lbctl on Node 20 over Debian 12 (bookworm), with the system libbpf the binding loads.
# Build: docker compose build (or docker build -t xlb .). Runs as root with host networking: see docker-compose.yml.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev linux-libc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bpf bpf
COPY lb lb
COPY cluster cluster
COPY config config
COPY scripts scripts
COPY test test
RUN scripts/build && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 iproute2 iputils-ping \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/xlb
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist dist
# The executable itself: its first line gives node the heap settings the daemon is measured with.
ENTRYPOINT ["/opt/xlb/dist/lb/cli/lbctl.js"]
CMD ["daemon", "-c", "/etc/xlb/xlb.yaml"]
