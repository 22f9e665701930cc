# Orchestrion's image: one package, three roles chosen by the command
# (`orchestrion api`, `orchestrion worker`, `orchestrion beat`; see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY orchestrion ./orchestrion
COPY engine ./engine
COPY persistence ./persistence
COPY workers ./workers
COPY scheduler ./scheduler
COPY api ./api
RUN pip install . \
    && useradd --system --home-dir /var/lib/orchestrion --create-home orchestrion

USER orchestrion
WORKDIR /var/lib/orchestrion
# The API listens on all interfaces inside the container; compose publishes the port.
ENV ORCHESTRION_API_HOST=0.0.0.0 \
    ORCHESTRION_API_PORT=8080
EXPOSE 8080
ENTRYPOINT ["orchestrion"]
CMD ["serve"]
