// Package bundle moves container images and Helm charts into networks that
// cannot reach the registries they come from, without a Docker daemon.
//
// A bundle is one tar file (optionally zstd-compressed and split into parts)
// holding a single OCI image layout, so a blob shared by several images is
// stored once, plus a manifest that says what is inside and where it is meant
// to go, and a sha256 for every file. Manifests are kept byte for byte, so
// every digest, index digests included, is the same at the destination.
//
// A bundle is untrusted input: the reader accepts only regular files with
// known names, checks every size and digest, and never writes what it reads
// anywhere but to a registry. Push reads blobs straight from the packed file
// with no extraction, mounts blobs across repositories, skips what the
// registry already holds, and keeps a journal so a broken push resumes where
// it stopped, even in the middle of a blob.
package bundle
