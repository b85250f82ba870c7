# One image for the pipeline's Deno entry points: `deno task produce`,
# `consume` and `load` (the compose file and Airflow's DockerOperator pick one).
FROM denoland/deno:2.9.6

WORKDIR /app
COPY deno.json deno.lock ./
COPY lib/ lib/
COPY producer.ts consumer.ts loader.ts demo.ts ./

# Fetch every npm dependency (DuckDB's native addon included) at build time,
# so containers start without touching the network.
RUN deno install --frozen --entrypoint producer.ts consumer.ts loader.ts \
 && mkdir -p /app/data && chown deno:deno /app/data

USER deno
ENTRYPOINT ["deno", "task"]
CMD ["produce"]
