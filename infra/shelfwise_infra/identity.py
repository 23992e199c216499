"""Credentials of the two audiences (docs/security.md, docs/configuration.md).

- Shoppers: a customer token the retailer's site issues, verified by the `authorizer` function. Its key is
  either the retailer's JWKS URL (context `customer_token_jwks_url`) or an HS256 key this stack generates in
  Secrets Manager, which the retailer's site reads to sign tokens.
- Operators and the retailer's servers: OAuth 2.0 access tokens from a Cognito user pool whose resource server
  `shelfwise` has the scopes in `spec.OPERATOR_SCOPES`. People sign in through the pool's managed login
  (authorization code with PKCE, TOTP MFA required); servers use the client-credentials grant.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from shelfwise import settings

from shelfwise_infra import spec
from shelfwise_infra.config import StageConfig

RESOURCE_SERVER = "shelfwise"
SCOPE_DESCRIPTIONS = {
    "read": "Read operations data (GET on operations routes)",
    "write": "Change operations data (POST, PUT, DELETE on operations routes)",
    "server": "The retailer's servers acting for any customer on shopper routes",
}
# 64 letters and digits: about 380 bits, more than HS256's 256-bit minimum key strength.
CUSTOMER_KEY_LENGTH = 64
ACCESS_TOKEN_VALIDITY = Duration.hours(1)
OPERATOR_SESSION = Duration.hours(12)


def scope_name(scope: str) -> str:
    """`shelfwise/read` -> `read`; every operator scope belongs to the one resource server."""
    server, _, name = scope.partition("/")
    if server != RESOURCE_SERVER or not name:
        raise ValueError(f"operator scope {scope!r} is not '{RESOURCE_SERVER}/<name>'")
    return name


class Identity(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.customer_token_secret: secretsmanager.Secret | None = None
        if not config.customer_token_jwks_url:
            self.customer_token_secret = secretsmanager.Secret(
                self,
                spec.CUSTOMER_TOKEN_SECRET.id,
                description=(
                    "HS256 key the retailer's site signs shelfwise customer tokens with; the authorizer "
                    "function verifies them (rotation: docs/configuration.md)"
                ),
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=CUSTOMER_KEY_LENGTH, exclude_punctuation=True, include_space=False
                ),
            )

        self.user_pool = cognito.UserPool(
            self,
            "OperatorPool",
            user_pool_name=f"shelfwise-{config.stage}-operators",
            # Operators are invited by an administrator; nobody signs themselves up.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Threat protection (compromised credentials, adaptive authentication) needs the Plus plan, billed
            # per monthly active user: a handful of operators; client-credentials tokens are not users.
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.scopes = {
            scope: cognito.ResourceServerScope(
                scope_name=scope_name(scope), scope_description=SCOPE_DESCRIPTIONS[scope_name(scope)]
            )
            for scope in spec.OPERATOR_SCOPES
        }
        self.resource_server = self.user_pool.add_resource_server(
            "ResourceServer", identifier=RESOURCE_SERVER, scopes=list(self.scopes.values())
        )

        def oauth_scope(scope: str) -> cognito.OAuthScope:
            return cognito.OAuthScope.resource_server(self.resource_server, self.scopes[scope])

        # The retailer's servers: act for any customer on shopper routes and read operations data for their
        # ERP/BI; nothing that changes operations data.
        self.machine_client = self.user_pool.add_client(
            "MachineClient",
            user_pool_client_name=f"shelfwise-{config.stage}-servers",
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[oauth_scope(spec.SERVER_SCOPE), oauth_scope(spec.READ_SCOPE)],
            ),
            access_token_validity=ACCESS_TOKEN_VALIDITY,
            prevent_user_existence_errors=True,
        )
        # People: browser sign-in with PKCE (no client secret), read and write operations data.
        self.operator_client = self.user_pool.add_client(
            "OperatorClient",
            user_pool_client_name=f"shelfwise-{config.stage}-operators",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[
                    cognito.OAuthScope.OPENID,
                    cognito.OAuthScope.EMAIL,
                    oauth_scope(spec.READ_SCOPE),
                    oauth_scope(spec.WRITE_SCOPE),
                ],
                callback_urls=list(config.operator_callback_urls),
            ),
            access_token_validity=ACCESS_TOKEN_VALIDITY,
            id_token_validity=ACCESS_TOKEN_VALIDITY,
            refresh_token_validity=OPERATOR_SESSION,
            prevent_user_existence_errors=True,
        )
        # The token endpoint of both grants (and the managed login page) lives on the pool's domain.
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=config.cognito_domain_prefix or f"shelfwise-{config.stage}-{Aws.ACCOUNT_ID}"
            ),
        )
        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        CfnOutput(self, "MachineClientId", value=self.machine_client.user_pool_client_id)
        CfnOutput(self, "OperatorClientId", value=self.operator_client.user_pool_client_id)
        CfnOutput(
            self,
            "TokenUrl",
            value=f"{self.domain.base_url()}/oauth2/token",
            description="Client-credentials grant for the retailer's servers",
        )
        if self.customer_token_secret is not None:
            CfnOutput(
                self,
                "CustomerTokenKeyArn",
                value=self.customer_token_secret.secret_arn,
                description="The HS256 key the retailer's site signs customer tokens with",
            )

    @property
    def operator_token_issuer(self) -> str:
        return self.user_pool.user_pool_provider_url

    @property
    def operator_token_jwks_url(self) -> str:
        return f"{self.user_pool.user_pool_provider_url}/.well-known/jwks.json"

    def authorizer_environment(self, config: StageConfig) -> dict[str, str]:
        """What the `authorizer` function needs to verify both kinds of bearer token."""
        env: dict[str, str] = {
            settings.OPERATOR_TOKEN_JWKS_URL_ENV: self.operator_token_jwks_url,
            settings.OPERATOR_TOKEN_ISSUER_ENV: self.operator_token_issuer,
        }
        if self.customer_token_secret is not None:
            env[spec.CUSTOMER_TOKEN_SECRET.env] = self.customer_token_secret.secret_arn
        elif config.customer_token_jwks_url:
            env[settings.CUSTOMER_TOKEN_JWKS_URL_ENV] = config.customer_token_jwks_url
        if config.customer_token_issuer:
            env[settings.CUSTOMER_TOKEN_ISSUER_ENV] = config.customer_token_issuer
        if config.customer_token_audience:
            env[settings.CUSTOMER_TOKEN_AUDIENCE_ENV] = config.customer_token_audience
        return env
