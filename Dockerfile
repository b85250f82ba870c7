# One image for the pipeline's Deno entry points: `deno task produce`,
# `consume` and `load` (docker-compose.yml picks one per service), and
# `copy-gold` (the Airflow DAGs' step after dbt build). The Deno version is
# the one CI tests with (.ci/run).
FROM denoland/deno:2.9.6

WORKDIR /app

# The npm dependencies first (DuckDB's native addon included), exactly as
# deno.lock pins them: --frozen fails the build if deno.json and deno.lock
# disagree. This layer is rebuilt only when those two files change, and the
# containers start without touching the network.
COPY deno.json deno.lock ./
RUN deno install --frozen

# Then the code; installing its entry points fails the build if one imports a
# file this image lacks. tests/compose_test.ts runs these two `deno install`
# steps on the copied files.
COPY lib/ lib/
COPY producer.ts consumer.ts loader.ts ./
COPY scripts/copy_gold.ts scripts/
RUN deno install --frozen --entrypoint producer.ts consumer.ts loader.ts scripts/copy_gold.ts

# Code and caches stay root-owned; the runtime user writes only data/ (the
# loader's DuckDB volume and the gold copy beside it).
RUN mkdir -p /app/data && chown deno:deno /app/data
USER deno

ENTRYPOINT ["deno", "task"]
CMD ["produce"]
