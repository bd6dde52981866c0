# The stand-in Ray base image of docker/build-local-base.sh (for machines without access to Docker Hub),
# built on a Debian bookworm root filesystem that the script made with debootstrap.
ARG ROOTFS_IMAGE
FROM ${ROOTFS_IMAGE}
ARG RAY_VERSION

ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
# The machine's extra root CAs (a TLS-inspecting proxy's), so pip reaches the registry as on the host.
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates > /dev/null \
    && useradd --uid 1000 --gid users --create-home --home-dir /home/ray --shell /bin/bash ray

# As in the Ray image: user ray, Python 3.11 first on PATH from /home/ray/anaconda3/bin (a venv here, not
# conda), Ray installed in it. pip there uses the system's CA bundle (certifi's own lacks the extra CAs).
USER ray
WORKDIR /home/ray
ENV HOME=/home/ray PATH=/home/ray/anaconda3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
RUN python3 -m venv /home/ray/anaconda3 \
    && pip install --no-cache-dir --upgrade pip \
    && pip install --no-cache-dir "ray[default]==${RAY_VERSION}" \
    && python -c "import sys, ray; assert sys.version_info[:2] == (3, 11), sys.version; print('python', sys.version.split()[0], 'ray', ray.__version__)"

CMD ["bash"]
