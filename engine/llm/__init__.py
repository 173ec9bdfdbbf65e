"""Model calls: provider choice, real and scripted providers, retries, pricing, the recorder."""
