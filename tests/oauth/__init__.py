"""Tests of service/oauth."""
