"""The GraphQL operations and fragments of the Shopify adapter, one named operation a file."""
