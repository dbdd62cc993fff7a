"""The test site as an offline node (issue 18): the node's role (centre or site), its Ed25519 keys, the sitting
package a centre sends out and a site imports, and the results package a site sends back."""
