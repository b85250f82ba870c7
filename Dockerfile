# One image for the pipeline's Deno entry points: `deno task produce`,
# `consume`, `load` and `dashboard` (docker-compose.yml picks one per
# service), and `copy-gold` (the Airflow DAGs' step after dbt build); and, as the stage
# `follow`, the same with Python and dbt for `deno task follow`. The Deno
# version is the one CI tests with (.ci/run).
FROM denoland/deno:2.9.6 AS pipeline

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
COPY producer.ts consumer.ts loader.ts dashboard.ts ./
COPY scripts/copy_gold.ts scripts/
RUN deno install --frozen --entrypoint producer.ts consumer.ts loader.ts dashboard.ts scripts/copy_gold.ts

# Code and caches stay root-owned; the runtime user writes only data/ (the
# loader's DuckDB volume and the gold copy beside it).
RUN mkdir -p /app/data && chown deno:deno /app/data
USER deno

ENTRYPOINT ["deno", "task"]
CMD ["produce"]

# The real-time service, `deno task follow`: the image above plus the dbt
# project and its virtualenv (.venv, from requirements.txt, as `deno task
# setup` makes it), built here so the container starts without the network.
FROM pipeline AS follow
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt ./
COPY dbt_stocks/ dbt_stocks/
COPY follow.ts ./
COPY scripts/setup.ts scripts/
RUN deno install --frozen --entrypoint follow.ts scripts/setup.ts
RUN deno task setup
# dbt writes target/ and logs/ beside the project.
RUN chown -R deno:deno /app/dbt_stocks
USER deno
CMD ["follow"]
