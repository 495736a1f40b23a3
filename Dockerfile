# One image for every Harbour service; docker-compose.yml picks the service with
# `uvicorn --factory services.<name>.app:create`.

# Build stage: compilers are here only (in case a dependency has no wheel for this platform).
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# npm (Debian's) only to install the documentation pages' assets from the committed lock file; it stays here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential npm \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/harbour
WORKDIR /src
COPY pyproject.toml README.md ./
# What the image holds: the runtime (harbour), the services (each container runs one, `uvicorn --factory
# services.<name>.app:create`, see docker-compose.yml), the event schemas they publish, the milestone machinery the
# publishing services declare (milestones/: the audience policy's runtime, the case-audience read model, the
# pseudonyms and the relay route), and the tooling package
# without its demo. The tooling stays because the runbook (deploy/README.md) runs the ops commands inside a service's
# container with that container's settings: `docker compose exec intake harbour replay|dlq|rebuild|keys|erase`.
# The demo walkthrough (it issues tokens for invented people and posts a made-up case) and its `harbour demo`
# command are removed; the command line registers `demo` only where the module exists. bench/ (benchmarks) and
# tests/ are not copied.
COPY harbour ./harbour
COPY harbour_tools ./harbour_tools
COPY schemas ./schemas
COPY milestones ./milestones
COPY services ./services
RUN rm harbour_tools/demo.py harbour_tools/cli/demo.py
# A regular (non-editable) install: the final stage copies the virtualenv, not the sources' build tree.
RUN /opt/harbour/bin/pip install .
# The assets of every service's /docs, /redoc and /asyncapi pages (harbour/http/docs.py), by the same script as
# `make docs-assets`: `npm ci` of docs_assets/package-lock.json. The final stage takes only the files served.
# (.dockerignore keeps a local docs_assets/node_modules out of the context.)
COPY docs_assets ./docs_assets
RUN sh harbour_tools/install_docs_assets.sh

# Final stage: the virtualenv and nothing that compiles; a user without a shell or a home of value.
FROM python:3.11.11-slim-bookworm
ENV PATH=/opt/harbour/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 harbour \
 && useradd --system --uid 10001 --gid harbour --no-create-home --shell /usr/sbin/nologin harbour
COPY --from=build /opt/harbour /opt/harbour
# The documentation pages' assets, with their licences; HARBOUR_DOCS_ASSETS_DIR tells the services where they are.
ARG ASSETS=/src/docs_assets/node_modules
COPY --from=build $ASSETS/swagger-ui-dist/swagger-ui-bundle.js $ASSETS/swagger-ui-dist/swagger-ui.css \
     $ASSETS/swagger-ui-dist/favicon-32x32.png $ASSETS/swagger-ui-dist/LICENSE $ASSETS/swagger-ui-dist/NOTICE \
     /opt/harbour/docs-assets/swagger-ui-dist/
COPY --from=build $ASSETS/redoc/bundles/redoc.standalone.js $ASSETS/redoc/bundles/redoc.standalone.js.LICENSE.txt \
     /opt/harbour/docs-assets/redoc/bundles/
COPY --from=build $ASSETS/@asyncapi/react-component/browser/standalone/index.js \
     $ASSETS/@asyncapi/react-component/browser/standalone/index.js.LICENSE.txt \
     /opt/harbour/docs-assets/@asyncapi/react-component/browser/standalone/
COPY --from=build $ASSETS/@asyncapi/react-component/styles/default.min.css \
     /opt/harbour/docs-assets/@asyncapi/react-component/styles/
COPY --from=build $ASSETS/@asyncapi/react-component/LICENSE /opt/harbour/docs-assets/@asyncapi/react-component/
ENV HARBOUR_DOCS_ASSETS_DIR=/opt/harbour/docs-assets
# The service packages are imported by name (services.<name>.app): the install above put them in site-packages,
# so the working directory holds nothing but scratch space for the runtime.
WORKDIR /tmp
USER 10001:10001
EXPOSE 8101 8102 8103 8104 8105 8107
CMD ["uvicorn", "--factory", "services.intake.app:create"]
